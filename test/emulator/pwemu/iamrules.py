"""IAM rules of a first deployment into a fresh account (README: "First use in an account").

* Service-linked roles: ECS refuses CreateCluster/CreateService until AWSServiceRoleForECS exists
  and can be assumed. ECS creates the role on first use: the first refused call creates it, and it
  is usable `slrPropagationSeconds` after its creation (as is one made by CreateServiceLinkedRole).
* CreateServiceLinkedRole names roles as IAM does (moto lower-cases them) and answers a second
  call for the same role `InvalidInput: ... has been taken ...` as IAM does (moto: EntityAlreadyExists).
* RegisterScalableTarget within `scalableTargetLagSeconds` of CreateService for that service:
  `ValidationException: ECS service doesn't exist: service/<cluster>/<service>`.
* A role created less than `iamPropagationSeconds` ago cannot be assumed: CreateService/UpdateService
  with a task definition naming it are refused, tasks started with it fail to start.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from moto.applicationautoscaling import models as aas_models
from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.core.utils import utcnow
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException
from moto.iam import models as iam_models
from moto.iam.exceptions import InvalidInput

from .world import LOCK, World

ECS_SLR = "AWSServiceRoleForECS"
# AWSServiceName -> the role IAM creates for it (IAM User Guide, "AWS services that work with IAM";
# ECS, ELB and Application Auto Scaling "service-linked roles" pages).
SLR_NAMES = {
    "ecs.amazonaws.com": ECS_SLR,
    "elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
    "ecs.application-autoscaling.amazonaws.com": "AWSServiceRoleForApplicationAutoScaling_ECSService",
}
SLR_MESSAGE = "Unable to assume the service linked role. Please verify that the ECS service linked role exists."


def unassumable_role_message(arn: str) -> str:
    # ECS's wording (service events "failed to launch a task with (error ...)" and CreateService).
    return (
        f"ECS was unable to assume the role '{arn}' that was provided for this task. Please verify that the "
        "role being passed has the proper trust relationship and permissions and that your IAM user has "
        "permissions to pass this role."
    )


def _iam(account_id: str) -> Any:
    return iam_models.iam_backends[account_id]["aws"]


def _age(role: Any) -> float:
    created = role.create_date
    now = utcnow()
    if created.tzinfo is not None and now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    elif created.tzinfo is None and now.tzinfo is not None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    return (now - created).total_seconds()


def fresh_role(world: World, account_id: str, arn: str | None) -> bool:
    """True when `arn` names a role of this account created less than iamPropagationSeconds ago."""
    lag = float(world.config.get("iamPropagationSeconds") or 0)
    if not arn or lag <= 0:
        return False
    try:
        role = _iam(account_id).get_role_by_arn(arn)
    except Exception:  # noqa: BLE001 - not a role of this world: nothing to say about its age
        return False
    return _age(role) < lag


def task_definition_roles(td: Any) -> list[str]:
    return [a for a in (getattr(td, "execution_role_arn", None), getattr(td, "task_role_arn", None)) if a]


def apply(world: World) -> None:
    _patch_iam()
    _patch_ecs(world)
    _patch_autoscaling(world)


def _patch_iam() -> None:
    Backend = iam_models.IAMBackend
    orig = Backend.create_service_linked_role

    def create_service_linked_role(self: Any, service_name: str, description: str, suffix: str) -> Any:
        name = SLR_NAMES.get(service_name)
        if name is None:
            return orig(self, service_name, description, suffix)
        if suffix:
            # IAM: these services do not take a custom suffix.
            raise InvalidInput(f"Custom suffix is not allowed for {service_name}")
        if any(r.name == name for r in self.get_roles()):
            raise InvalidInput(f"Service role name {name} has been taken in this account, please try a different suffix.")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": [service_name]}}],
        }
        return self.create_role(
            name,
            json.dumps(trust),
            f"/aws-service-role/{service_name}/",
            permissions_boundary=None,
            description=description,
            tags=[],
            max_session_duration="3600",
            linked_service=service_name,
        )

    Backend.create_service_linked_role = create_service_linked_role


def _require_ecs_slr(world: World, account_id: str) -> None:
    if not world.config.get("requireServiceLinkedRoles", True):
        return
    iam = _iam(account_id)
    role = next((r for r in iam.get_roles() if r.name == ECS_SLR), None)
    if role is None:
        # ECS creates the role on first use; the call that made it is refused all the same.
        iam.create_service_linked_role("ecs.amazonaws.com", "", "")
        raise InvalidParameterException(SLR_MESSAGE)
    if _age(role) < float(world.config.get("slrPropagationSeconds") or 0):
        raise InvalidParameterException(SLR_MESSAGE)


def _refuse_fresh_roles(world: World, backend: Any, td_str: str | None) -> None:
    if not td_str:
        return
    try:
        td = backend.describe_task_definition(td_str)
    except Exception:  # noqa: BLE001 - moto answers an unknown task definition itself
        return
    for arn in task_definition_roles(td):
        if fresh_role(world, backend.account_id, arn):
            raise InvalidParameterException(unassumable_role_message(arn))


def _patch_ecs(world: World) -> None:
    Response = ecs_responses.EC2ContainerServiceResponse

    orig_create_cluster = Response.create_cluster

    def create_cluster(self: Any) -> Any:
        with LOCK:
            _require_ecs_slr(world, self.current_account)
        return orig_create_cluster(self)

    Response.create_cluster = create_cluster

    orig_create_service = Response.create_service

    def create_service(self: Any) -> Any:
        with LOCK:
            _require_ecs_slr(world, self.current_account)
            _refuse_fresh_roles(world, self.ecs_backend, self._get_param("taskDefinition"))
            result = orig_create_service(self)
            svc = result.result["service"]
            world.service_created_at[(self.current_account, svc.region_name, svc.cluster_name, svc.name)] = utcnow()
            return result

    Response.create_service = create_service

    orig_update_service = Response.update_service

    def update_service(self: Any) -> Any:
        with LOCK:
            _refuse_fresh_roles(world, self.ecs_backend, self._get_param("taskDefinition"))
            return orig_update_service(self)

    Response.update_service = update_service
    _ = ecs_models  # the models stay moto's


def _patch_autoscaling(world: World) -> None:
    Backend = aas_models.ApplicationAutoscalingBackend
    orig = Backend.register_scalable_target

    def register_scalable_target(self: Any, namespace: str, r_id: str, *args: Any, **kwargs: Any) -> Any:
        lag = float(world.config.get("scalableTargetLagSeconds") or 0)
        if namespace == "ecs" and lag > 0 and r_id.count("/") == 2:
            _, cluster, service = r_id.split("/")
            created = world.service_created_at.get((self.account_id, self.region_name, cluster, service))
            if created is not None and (utcnow() - created).total_seconds() < lag:
                raise AWSValidationException(f"ECS service doesn't exist: {r_id}")
        return orig(self, namespace, r_id, *args, **kwargs)

    Backend.register_scalable_target = register_scalable_target
