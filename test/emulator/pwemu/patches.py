"""Patches on moto's ECS and ELBv2 models that hand service scheduling to `World`.

Request and response shapes stay moto's: we only change what the models hold.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from typing import Any

from botocore import xform_name
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.elbv2 import exceptions as elbv2_exceptions
from moto.elbv2 import models as elbv2_models

from . import bluegreen
from . import iamrules
from . import ec2
from . import standalone
from . import accounts
from .alb import DataPlane
from .world import LOCK, World

DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}

# CreateService parameters moto accepts but does not keep; we keep and return them.
KEPT_CREATE_PARAMS = (
    "deploymentConfiguration",
    "healthCheckGracePeriodSeconds",
    "enableECSManagedTags",
    "enableExecuteCommand",
    "capacityProviderStrategy",
    "placementConstraints",
    "placementStrategy",
    "availabilityZoneRebalancing",
)


class ServiceNotActiveException(ECSException):
    def __init__(self) -> None:
        super().__init__("ServiceNotActiveException", "Service was not ACTIVE.")


class ServiceTask(ecs_models.Task):
    """A moto Task whose status is driven by the emulator's EmuTask."""

    def __init__(self, emu: Any, **kwargs: Any) -> None:
        self._emu = emu
        super().__init__(**kwargs)

    @property
    def last_status(self) -> str:  # type: ignore[override]
        return self._emu.status

    @last_status.setter
    def last_status(self, value: str) -> None:
        pass  # moto's StopTask sets it; the emulator stops the task instead

    def advance(self) -> None:
        pass


def apply(world: World) -> None:
    if world.alb is None:
        world.alb = DataPlane(world)
    _patch_ecs(world)
    _patch_elbv2(world)
    _patch_elbv2_data_plane(world.alb)
    patch_elbv2_rules(world)
    iamrules.apply(world)
    ec2.apply(world)
    standalone.apply(world)
    accounts.apply()
    bluegreen.apply(world)


def _merge_deployment_configuration(
    old: dict[str, Any] | None, new: dict[str, Any] | None, replace_members: bool = False
) -> dict[str, Any]:
    """The stored deploymentConfiguration after CreateService/UpdateService sent `new`: a member left
    out keeps its stored value. `replace_members` (UpdateService, rule `replaceDeploymentConfigurationMembers`):
    a member sent replaces the stored one whole (its own omitted fields are not kept from before)."""
    merged = copy.deepcopy(old or DEFAULT_DEPLOYMENT_CONFIGURATION)
    for key, value in (new or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not replace_members:
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _patch_ecs(world: World) -> None:
    Backend = ecs_models.EC2ContainerServiceBackend
    Response = ecs_responses.EC2ContainerServiceResponse

    orig_validate_network = ecs_models.Service._validate_network

    def _validate_network(self: Any, nc: dict[str, Any]) -> Any:
        # awsvpcConfiguration.securityGroups is optional in ECS (the VPC's default group); moto needs it.
        conf = nc.get("awsvpcConfiguration") or {}
        if "securityGroups" not in conf:
            orig_validate_network(self, {"awsvpcConfiguration": {**conf, "securityGroups": []}})
            return nc
        return orig_validate_network(self, nc)

    ecs_models.Service._validate_network = _validate_network

    orig_create_response = Response.create_service

    def create_service(self: Any) -> Any:
        with LOCK:
            backend = self.ecs_backend
            cluster = backend._get_cluster(self._get_param("cluster", "default"))
            name = self._get_param("serviceName")
            existing = backend.services.get(f"{cluster.name}:{name}")
            if existing is not None and existing.status == "ACTIVE":
                # ECS: a second CreateService for an ACTIVE service is an error, never an overwrite.
                raise InvalidParameterException("Creation of service was not idempotent.")
            result = orig_create_response(self)
            svc = result.result["service"]
            for param in KEPT_CREATE_PARAMS:
                value = self._get_param(param)
                if value is not None:
                    setattr(svc, xform_name(param), value)
            if (svc.deployment_controller or {}).get("type", "ECS") == "ECS":
                svc.deployment_configuration = _merge_deployment_configuration(
                    None, self._get_param("deploymentConfiguration")
                )
            world.on_create(backend, svc)
            world.begin_lag(svc, None)  # readers do not see the new service for a moment
            return result

    Response.create_service = create_service

    orig_update = Backend.update_service

    def update_service(self: Any, props: dict[str, Any]) -> Any:
        with LOCK:
            cluster_str = props.get("cluster", "default")
            service_str = (props.get("service") or "").split("/")[-1]
            svc = self._get_service(cluster_str, service_str)
            if svc.status != "ACTIVE":
                raise ServiceNotActiveException()
            st = world.state_for(svc)
            primary_td = svc.deployments[0]["taskDefinition"] if svc.deployments else svc.task_definition
            old_desired = svc.desired_count
            old_config = copy.deepcopy(getattr(svc, "deployment_configuration", None))
            old_network = copy.deepcopy(svc.network_configuration)
            old_lbs = copy.deepcopy(svc.load_balancers)
            before = world.snapshot(svc)
            td_str = props.get("task_definition")
            force = bool(props.get("force_new_deployment"))
            new_config = props.get("deployment_configuration")
            result = orig_update(self, props)
            if td_str:
                result.task_definition = self.describe_task_definition(td_str).arn  # moto keeps the raw string
            if new_config is not None or old_config is not None:
                result.deployment_configuration = _merge_deployment_configuration(
                    old_config, new_config, bool(world.config.get("replaceDeploymentConfigurationMembers", True))
                )
            changed_td = result.task_definition != primary_td
            changed_net = props.get("network_configuration") is not None and result.network_configuration != old_network
            changed_lbs = props.get("load_balancers") is not None and result.load_balancers != old_lbs
            if st is not None:
                # A deployment this update starts while changing the strategy is a rolling one (bluegreen.begin).
                st.strategy_switch = ((old_config or {}).get("strategy") or "ROLLING") != (
                    (result.deployment_configuration or {}).get("strategy") or "ROLLING"
                )
                try:
                    world.on_update(
                        result,
                        new_deployment=changed_td or force or changed_net or changed_lbs,
                        desired_changed=result.desired_count != old_desired,
                    )
                finally:
                    st.strategy_switch = False
            world.begin_lag(result, before)
            return result

    Backend.update_service = update_service

    orig_delete = Backend.delete_service

    def delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        with LOCK:
            svc = orig_delete(self, cluster_name, service_name, force)
            svc.desired_count = 0
            world.on_delete(svc)
            return svc

    Backend.delete_service = delete_service

    # The lag is what ECS API readers see: moto's own cross-service checks (e.g. Application Auto
    # Scaling's RegisterScalableTarget looking the service up) read the current state.
    api = threading.local()

    def through_api(name: str) -> None:
        orig = getattr(Response, name)

        def wrapper(self: Any) -> Any:
            api.active = True
            try:
                return orig(self)
            finally:
                api.active = False

        wrapper.__name__ = name
        setattr(Response, name, wrapper)

    through_api("describe_services")
    through_api("list_tasks")

    def stale(svc: Any) -> Any:
        return world.view_of(svc) if getattr(api, "active", False) else None

    orig_describe_services = Backend.describe_services

    def describe_services(self: Any, cluster_str: str, service_names_or_arns: list[str]) -> Any:
        # ECS reads are eventually consistent: within consistencyLagSeconds of a write, the
        # service as it was before the write (a service just created is MISSING).
        with LOCK:
            result, failures = orig_describe_services(self, cluster_str, service_names_or_arns)
            shown = []
            for svc in result:
                view = stale(svc)
                if view is None:
                    shown.append(svc)
                elif view.service is not None:
                    shown.append(view.service)
                else:
                    failures.append({"arn": svc.arn, "reason": "MISSING"})
            return shown, failures

    Backend.describe_services = describe_services

    orig_list_tasks = Backend.list_tasks

    def list_tasks(self: Any, cluster_str: Any = None, container_instance: Any = None, family: Any = None,
                   started_by: Any = None, service_name: Any = None, desiredStatus: Any = None) -> Any:
        with LOCK:
            tasks = orig_list_tasks(self, cluster_str, container_instance, family, started_by, service_name, None)
            if service_name:
                name = service_name.split("/")[-1]
                tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{name}"]
            # ECS: ListTasks filters on desiredStatus RUNNING unless told otherwise.
            wanted = desiredStatus or "RUNNING"
            shown = []
            for t in tasks:
                status = t.desired_status
                if isinstance(t, ServiceTask):
                    # Eventual consistency: a lagging service's tasks as they were before the write.
                    view = stale(t._emu.st.svc)
                    if view is not None:
                        if t.task_arn not in view.tasks:
                            continue
                        status = view.tasks[t.task_arn]
                if status == wanted:
                    shown.append(t)
            return shown

    Backend.list_tasks = list_tasks

    orig_stop_task = Backend.stop_task

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        with LOCK:
            task = orig_stop_task(self, cluster_str, task_str, reason)
            if isinstance(task, ServiceTask):
                world.on_user_stop(task._emu, reason)
                task.desired_status = "STOPPED"
            return task

    Backend.stop_task = stop_task

    orig_describe_tasks = Backend.describe_tasks

    def describe_tasks(self: Any, cluster_str: str, tasks: list[str]) -> Any:
        with LOCK:
            return orig_describe_tasks(self, cluster_str, tasks)

    Backend.describe_tasks = describe_tasks

    _patch_ecs_limits(world)


DESCRIBE_SERVICES_MAX = 10
LIST_TASK_DEFINITIONS_MAX = 100


def _encode_token(after: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": list(after)}).encode()).decode()


def _decode_token(token: str) -> tuple[str, int]:
    try:
        family, revision = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        return str(family), int(revision)
    except Exception as exc:  # noqa: BLE001 - any malformed token is the caller's error
        raise InvalidParameterException("Invalid token") from exc


def _patch_ecs_limits(world: World) -> None:
    """Request limits ECS enforces and moto does not (README: "Limits ECS enforces")."""
    Response = ecs_responses.EC2ContainerServiceResponse

    orig_describe_services = Response.describe_services

    def describe_services(self: Any) -> Any:
        if world.config.get("limitDescribeServices", True):
            names = self._get_param("services", []) or []
            if len(names) > DESCRIBE_SERVICES_MAX:
                # ECS's answer, word for word (InvalidParameterException).
                raise InvalidParameterException(f"service names can have at most {DESCRIBE_SERVICES_MAX} items.")
        return orig_describe_services(self)

    Response.describe_services = describe_services

    orig_list_task_definitions = Response.list_task_definitions

    def list_task_definitions(self: Any) -> Any:
        if not world.config.get("pageTaskDefinitions", True):
            return orig_list_task_definitions(self)
        max_results = self._get_param("maxResults")
        if max_results is None:
            max_results = LIST_TASK_DEFINITIONS_MAX
        elif not isinstance(max_results, int) or isinstance(max_results, bool) or not 1 <= max_results <= 100:
            raise InvalidParameterException("maxResults must be between 1 and 100.")
        order = self._get_param("sort") or "ASC"
        if order not in ("ASC", "DESC"):
            raise InvalidParameterException("sort must be one of ASC, DESC.")
        family_prefix = self._get_param("familyPrefix")
        status = self._get_param("status") or "ACTIVE"
        backend = self.ecs_backend
        found = [
            td
            for revisions in backend.task_definitions.values()
            for td in revisions.values()
            if (family_prefix is None or td.family == family_prefix) and td.status == status
        ]
        # ECS: lexicographically by family, then by revision; DESC reverses both.
        desc = order == "DESC"
        found.sort(key=lambda td: (td.family, td.revision), reverse=desc)
        token = self._get_param("nextToken")
        if token:
            after = _decode_token(token)
            # Keyed on the last item returned, not an offset: a revision deregistered between two
            # pages neither shifts nor repeats the next page.
            found = [td for td in found if ((td.family, td.revision) < after if desc else (td.family, td.revision) > after)]
        page = found[:max_results]
        result: dict[str, Any] = {"taskDefinitionArns": [td.arn for td in page]}
        if len(found) > max_results:
            result["nextToken"] = _encode_token((page[-1].family, page[-1].revision))
        return ActionResult(result)

    Response.list_task_definitions = list_task_definitions


def _patch_elbv2(world: World) -> None:
    TG = elbv2_models.FakeTargetGroup
    orig_health_for = TG.health_for
    orig_deregister = TG.deregister

    def _find(tg: Any, target: dict[str, Any]) -> tuple[str | None, Any]:
        """Key and port of a registered target; the emulator keys its targets as 'id:port'."""
        tid, port = target["Id"], target.get("Port")
        if port is not None and f"{tid}:{port}" in tg.targets:
            return f"{tid}:{port}", port
        if tid in tg.targets:
            return tid, tg.targets[tid].get("Port")
        if port is None:
            for key, t in tg.targets.items():
                if t["Id"] == tid:
                    return key, t.get("Port")
        return None, port

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        with LOCK:
            key, port = _find(self, target)
            state = world.health_of(self.arn, target["Id"], int(port) if port is not None else None)
            if key is not None and state is not None:
                return elbv2_models.FakeHealthStatus(
                    target["Id"], port, self.health_check_port, state[0], state[1], state[2]
                )
            if key is not None and key != target["Id"]:
                t = self.targets[key]
                return elbv2_models.FakeHealthStatus(t["Id"], t["Port"], self.health_check_port, "healthy")
            return orig_health_for(self, target, ec2_backend)

    def deregister(self: Any, targets: list[dict[str, Any]]) -> None:
        with LOCK:
            plain = []
            for target in targets:
                key, _ = _find(self, target)
                if key is not None and key != target["Id"]:
                    self.deregistered_targets[key] = self.targets.pop(key)
                else:
                    plain.append(target)
            if plain:
                orig_deregister(self, plain)

    TG.health_for = health_for
    TG.deregister = deregister


def _patch_elbv2_data_plane(plane: DataPlane) -> None:
    """Loopback DNS names for load balancers, and HTTP servers that follow the listeners (alb.py)."""
    Backend = elbv2_models.ELBv2Backend

    orig_create_lb = Backend.create_load_balancer

    def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            lb = orig_create_lb(self, *args, **kwargs)
            address = plane.assign(lb, self)
            if address:
                lb.dns_name = address
            return lb

    Backend.create_load_balancer = create_load_balancer

    def resync(name: str) -> None:
        orig = getattr(Backend, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with LOCK:
                try:
                    return orig(self, *args, **kwargs)
                finally:
                    plane.sync(self)

        wrapper.__name__ = name
        setattr(Backend, name, wrapper)

    # CreateListener is idempotent in ELBv2: the same settings on a port that has a listener return
    # that listener; different settings are DuplicateListener. moto compares the port against the
    # listeners' ARNs (never equal) and so adds a second listener on the port.
    orig_create_listener = Backend.create_listener

    def create_listener(self: Any, load_balancer_arn: str, protocol: str, port: Any, ssl_policy: Any,
                        certificate: Any, actions: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        lb = self.load_balancers.get(load_balancer_arn)
        for existing in list(lb.listeners.values()) if lb is not None else []:
            if str(existing.port) != str(port):
                continue
            wanted = [elbv2_models.FakeAction(copy.deepcopy(a)).data for a in actions]
            if existing.protocol == protocol and [a.data for a in existing.default_actions] == wanted:
                return existing
            raise elbv2_exceptions.DuplicateListenerError()
        return orig_create_listener(self, load_balancer_arn, protocol, port, ssl_policy, certificate, actions,
                                    *args, **kwargs)

    Backend.create_listener = create_listener

    for name in ("create_listener", "modify_listener", "delete_listener", "delete_load_balancer"):
        resync(name)


# ---------------------------------------------------------------------- ELBv2 / ACM rules AWS enforces
MAX_RULE_CONDITION_VALUES = 5  # ELB quotas: "Condition values per rule" (wildcards and per condition, 5 in total)


class UnsupportedCertificateError(elbv2_exceptions.ELBClientError):
    code = "UnsupportedCertificate"


class CertificateNotFoundError(elbv2_exceptions.ELBClientError):
    code = "CertificateNotFound"


def condition_values(conditions: list[dict[str, Any]] | None) -> int:
    """How many condition values a rule's conditions hold, as the ELB quota counts them."""
    total = 0
    for c in conditions or []:
        counts = [len(c.get("Values") or c.get("values") or [])]
        for key, conf in c.items():
            if key.endswith("Config") and isinstance(conf, dict):
                counts.append(len(conf.get("Values") or []))
        total += max(counts)
    return total


def _check_conditions(world: World, conditions: list[dict[str, Any]] | None) -> None:
    if not world.config["checkRuleConditionValues"]:
        return
    n = condition_values(conditions)
    if n > MAX_RULE_CONDITION_VALUES:
        raise elbv2_exceptions.ValidationError(
            f"A rule can only have '{MAX_RULE_CONDITION_VALUES}' condition values (this rule has {n})"
        )


def _check_certificates(world: World, region: str, account: str, arns: list[str]) -> None:
    """ELBv2 listeners take ACM certificates that are ISSUED, in the load balancer's region."""
    if not world.config["checkCertificates"]:
        return
    from moto.acm.models import acm_backends

    for arn in arns:
        if not arn or ":acm:" not in arn:
            continue  # IAM server certificates: not modelled
        parts = arn.split(":")
        cert_region, cert_account = parts[3], parts[4]
        if cert_region != region or cert_account != account:
            raise CertificateNotFoundError(f"Certificate '{arn}' not found")
        try:
            bundle = acm_backends[cert_account][cert_region].get_certificate(arn)
        except Exception:
            raise CertificateNotFoundError(f"Certificate '{arn}' not found") from None
        if bundle.status != "ISSUED":
            raise UnsupportedCertificateError(
                f"The certificate '{arn}' must have a fully-qualified domain name, a supported signature, "
                "and a supported key size."
            )


def _cert_arns(certs: Any) -> list[str]:
    out = []
    for c in certs or []:
        if isinstance(c, dict):
            out.append(c.get("CertificateArn") or c.get("certificate_arn") or "")
        elif isinstance(c, str):
            out.append(c)
    return out


def patch_elbv2_rules(world: World) -> None:
    Backend = elbv2_models.ELBv2Backend

    orig_create_lb = Backend.create_load_balancer

    def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name", args[0] if args else "")
        if world.config["checkLoadBalancerName"] and str(name).startswith("internal-"):
            # CreateLoadBalancer: the name "must not begin with internal-".
            raise elbv2_exceptions.ValidationError(f"Load balancer name '{name}' cannot begin with 'internal-'")
        return orig_create_lb(self, *args, **kwargs)

    Backend.create_load_balancer = create_load_balancer

    orig_create_rule = Backend.create_rule

    def create_rule(self: Any, listener_arn: str, conditions: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        _check_conditions(world, conditions)
        return orig_create_rule(self, listener_arn, conditions, *args, **kwargs)

    Backend.create_rule = create_rule

    orig_modify_rule = Backend.modify_rule

    def modify_rule(self: Any, rule_arn: str, conditions: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        if conditions:
            _check_conditions(world, conditions)
        return orig_modify_rule(self, rule_arn, conditions, *args, **kwargs)

    Backend.modify_rule = modify_rule

    orig_modify_tg = Backend.modify_target_group

    def modify_target_group(self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
        tg = self.target_groups.get(arn)
        names = ("health_check_proto", "health_check_port", "health_check_path", "health_check_interval",
                 "health_check_timeout")
        given = {**dict(zip(names, args)), **kwargs}
        if tg is not None and world.config["checkHealthCheckTimeout"]:
            interval = int(given.get("health_check_interval") or tg.health_check_interval_seconds or 30)
            timeout = int(given.get("health_check_timeout") or tg.health_check_timeout_seconds or 10)
            if timeout >= interval and (tg.protocol or "HTTP") in ("HTTP", "HTTPS"):
                # ModifyTargetGroup: "the timeout must be smaller than the interval" (as CreateTargetGroup).
                raise elbv2_exceptions.ValidationError(
                    f"Health check timeout '{timeout}' must be smaller than the interval '{interval}'"
                )
        return orig_modify_tg(self, arn, *args, **kwargs)

    Backend.modify_target_group = modify_target_group

    orig_create_listener = Backend.create_listener

    def create_listener(self: Any, load_balancer_arn: str, protocol: str, port: Any, ssl_policy: Any,
                        certificate: Any, *args: Any, **kwargs: Any) -> Any:
        _check_certificates(world, self.region_name, self.account_id, [certificate] if certificate else [])
        return orig_create_listener(self, load_balancer_arn, protocol, port, ssl_policy, certificate, *args, **kwargs)

    Backend.create_listener = create_listener

    orig_modify_listener = Backend.modify_listener

    def modify_listener(self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
        names = ("port", "protocol", "ssl_policy", "certificates")
        given = {**dict(zip(names, args)), **kwargs}
        _check_certificates(world, self.region_name, self.account_id, _cert_arns(given.get("certificates")))
        return orig_modify_listener(self, arn, *args, **kwargs)

    Backend.modify_listener = modify_listener

    # Listener certificates added later (AddListenerCertificates) follow the same rule.
    orig_add_certs = getattr(Backend, "add_listener_certificates", None)
    if orig_add_certs is not None:

        def add_listener_certificates(self: Any, arn: str, certificates: Any, *args: Any, **kwargs: Any) -> Any:
            _check_certificates(world, self.region_name, self.account_id, _cert_arns(certificates))
            return orig_add_certs(self, arn, certificates, *args, **kwargs)

        Backend.add_listener_certificates = add_listener_certificates
