"""The emulator's own state: ECS service deployments, tasks and their targets.

Moto keeps the resources (services, task definitions, target groups); this
module keeps what moto lacks -- a service scheduler. A ticker thread advances
every service a step every `tickSeconds`:

  launch tasks for the PRIMARY deployment  ->  tasks start (simulated by time,
  or as real containers on the local Docker engine)  ->  healthy tasks are
  registered in the service's target groups  ->  old deployments' tasks drain
  ->  the PRIMARY deployment is COMPLETED and the service reaches a steady state.

Failed tasks feed the deployment circuit breaker (FAILED, optional rollback).

All state is guarded by one re-entrant lock, `LOCK`, which the moto patches
also take, so API calls and the ticker never see a half-made change. Slow work
(docker run, HTTP probes) runs in per-task threads outside the lock.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import re
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import utcnow

from . import awslogs, docker, runtime

LOCK = threading.RLock()

PROVISIONING, PENDING, RUNNING, STOPPED = "PROVISIONING", "PENDING", "RUNNING", "STOPPED"

DEFAULT_CONFIG: dict[str, Any] = {
    # Time a deployment takes when every task is simulated: tasks start after
    # half of it, replaced tasks drain for the other half.
    "rolloutSeconds": 3.0,
    # Run tasks as real containers when the image can be obtained locally.
    "runContainers": True,
    # Check every request of the services patchwork uses against AWS's API model first (validate.py).
    "validateRequests": True,
    # Circuit-breaker threshold; null = AWS formula min(200, max(3, ceil(0.5 * desired))).
    "failThreshold": None,
    # A real container must answer its health check within this time.
    "healthTimeoutSeconds": 30.0,
    # Fail tasks whose `secrets` reference SSM parameters / secrets that do not exist.
    "checkSecrets": True,
    # DescribeServices refuses more than 10 services a call, as ECS does.
    "limitDescribeServices": True,
    # ListTaskDefinitions pages (maxResults 1..100, default 100; nextToken) and sorts (sort ASC/DESC)
    # as ECS does; off = moto's single unsorted answer.
    "pageTaskDefinitions": True,
    # First use in an account (iamrules.py): CreateCluster/CreateService need AWSServiceRoleForECS,
    # which the first refused call creates and which is usable slrPropagationSeconds after creation.
    "requireServiceLinkedRoles": True,
    "slrPropagationSeconds": 3.0,
    # RegisterScalableTarget this soon after CreateService: "ECS service doesn't exist" (0 = off).
    "scalableTargetLagSeconds": 2.0,
    # A role this new cannot be assumed: CreateService/UpdateService refuse it, tasks fail (0 = off).
    "iamPropagationSeconds": 2.0,
    # DeleteSecurityGroup refuses (DependencyViolation) a group another group's rule references or a
    # network interface uses, as EC2 does (ec2.py).
    "sgDependencies": True,
    # A stopped task's ENI (and so its security groups' use) outlives the task this long; AWS: minutes.
    "eniLingerSeconds": 3.0,
    # A just-created security group answers InvalidGroup.NotFound this long (EC2 eventual consistency).
    "sgVisibilitySeconds": 1.0,
    # NAT gateways (ec2.py): pending this long before available, deleting this long before deleted
    # (AWS: minutes); the Elastic IP a NAT gateway holds cannot be released before it is deleted; a
    # subnet holding a network interface cannot be deleted.
    "natPendingSeconds": 2.0,
    "natDeletingSeconds": 2.0,
    "natHoldsAddress": True,
    "subnetDependencies": True,
    "tickSeconds": 0.1,
    # ECS reads are eventually consistent: for this long after CreateService / UpdateService,
    # DescribeServices and ListTasks answer the service's previous state (0 = read-after-write).
    "consistencyLagSeconds": 1.5,
    # A task whose image cannot be pulled (an ECR image of this world that does not exist, a
    # loopback-registry manifest that is missing or a registry that does not answer) stops with
    # CannotPullContainerError and counts for the circuit breaker.
    "checkImages": True,
    # A Fargate task reaches the registry, CloudWatch Logs, SSM and Secrets Manager only through its
    # subnet's route table (a NAT gateway; an internet gateway with a public IP) or VPC endpoints;
    # without a way out it stops with CannotPullContainerError / ResourceInitializationError (reach.py).
    "networkReachability": True,
    # ELBv2 rules (see README "Rules AWS enforces"): at most 5 condition values per rule; health-check
    # timeout below the interval on ModifyTargetGroup; no load balancer name beginning with
    # "internal-"; listener certificates ISSUED by ACM in the load balancer's region.
    "checkRuleConditionValues": True,
    "checkHealthCheckTimeout": True,
    "checkLoadBalancerName": True,
    "checkCertificates": True,
    # Seconds until an ACM certificate requested with RequestCertificate is ISSUED (its validation
    # completes); PENDING_VALIDATION until then. moto's MOTO_ACM_VALIDATION_WAIT.
    "acmValidationSeconds": 60.0,
    # IAM evaluation (iameval.py): requests signed with an IAM user's access key are authorised
    # against its policies (iam:PassRole included); a task's secrets against its execution role's.
    "evaluateIam": True,
    # A container logging to awslogs needs its log group to exist (unless awslogs-create-group is
    # "true"), else the task fails to start with ResourceInitializationError (awslogs.py).
    "checkLogGroups": True,
    # The Fargate task runtime (runtime.py; README "The Fargate task runtime"): real containers get the
    # task definition's user, read-only root, volumes, cpu/memory, ulimits; every container of the task
    # runs (essential / dependsOn); container health checks run (their timings times containerHealthScale).
    "applyTaskRuntime": True,
    "runSidecars": True,
    "containerHealthScale": 0.2,
    # A non-root container cannot bind a containerPort below 1024; the image's architecture must be the
    # task's runtimePlatform.cpuArchitecture (exec format error).
    "checkPortPrivilege": True,
    "checkArchitecture": True,
    # ECS's native BLUE_GREEN / CANARY / LINEAR deployments (bluegreen.py): bake times, canary and linear
    # step bakes and lifecycle-hook timeouts pass at this many seconds per minute; AWS's rules for the
    # strategies' settings (advancedConfiguration, ranges, hooks) are enforced on CreateService/UpdateService.
    "deploymentBakeScale": 1.0,
    "checkDeploymentStrategies": True,
    # Switching strategies (bluegreen.py; README "Switching strategies"): UpdateService's
    # deploymentConfiguration members replace the stored ones whole (those left out are kept), and the
    # strategy cannot change while a deployment is in progress.
    "replaceDeploymentConfigurationMembers": True,
    "checkStrategyChangeInProgress": True,
}


def log(msg: str) -> None:
    print(f"[pwemu] {msg}", file=sys.stderr, flush=True)


_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repo>[^:@]+)"
    r"(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def _deployment_id() -> str:
    return "ecs-svc/" + "".join(random.choice("0123456789") for _ in range(19))


@dataclass
class LagView:
    """A service as a lagging replica shows it: `service` None = not created yet; task ARN -> desired status."""

    until: float
    service: Any
    tasks: dict[str, str]


@dataclass
class DeploymentMeta:
    failed_tasks: int = 0
    breaker_failures: int = 0
    next_launch_at: float = 0.0


@dataclass
class EmuTask:
    id: str
    arn: str
    st: "ServiceState"
    deployment_id: str
    task_definition_arn: str
    image: str
    launched_at: float
    mode: str = "simulated"  # simulated | starting | real
    failing: bool = False
    fail_reason: str = "Essential container in task exited"
    fail_code: str = "EssentialContainerExited"
    fail_exit: int | None = 1
    status: str = PROVISIONING
    desired: str = RUNNING
    healthy: bool = False
    ever_healthy: bool = False
    stop_at: float = 0.0
    stopped_reason: str = ""
    stop_code: str = ""
    exit_code: int | None = None
    ip: str = ""
    port: int | None = None
    container_id: str | None = None
    note: str = ""
    targets: list[tuple[str, str, int]] = field(default_factory=list)
    # every container of the task: name -> docker id; container health (HEALTHY/UNHEALTHY/UNKNOWN); exits
    containers: dict[str, str] = field(default_factory=dict)
    container_health: dict[str, str] = field(default_factory=dict)
    container_exits: dict[str, int | None] = field(default_factory=dict)
    definitions: list[dict[str, Any]] = field(default_factory=list)
    moto_task: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    created: Any = field(default_factory=utcnow)

    @property
    def live(self) -> bool:
        return self.status != STOPPED

    def describe(self) -> dict[str, Any]:
        return {
            "taskId": self.id,
            "taskArn": self.arn,
            "service": self.st.svc.name,
            "cluster": self.st.svc.cluster_name,
            "deploymentId": self.deployment_id,
            "taskDefinitionArn": self.task_definition_arn,
            "image": self.image,
            "mode": self.mode,
            "lastStatus": self.status,
            "desiredStatus": self.desired,
            "healthy": self.healthy,
            "stoppedReason": self.stopped_reason or None,
            "exitCode": self.exit_code,
            "containerId": self.container_id,
            "containers": dict(self.containers),
            "containerHealth": dict(self.container_health),
            "address": f"127.0.0.1:{self.port}" if self.mode == "real" and self.port else self.ip or None,
            "targets": [{"targetGroupArn": a, "id": i, "port": p} for a, i, p in self.targets],
            "note": self.note or None,
        }


@dataclass
class ServiceState:
    svc: Any  # moto.ecs.models.Service
    backend: Any  # moto EC2ContainerServiceBackend
    tasks: list[EmuTask] = field(default_factory=list)
    meta: dict[str, DeploymentMeta] = field(default_factory=dict)
    last_completed: tuple[str, str] | None = None  # (deployment id, task definition ARN)
    steady: bool = False
    started_batch: list[str] = field(default_factory=list)
    # blue/green: deployment id -> {loadBalancers[].targetGroupArn: the target group its tasks register in}
    tg_map: dict[str, dict[str, str]] = field(default_factory=dict)
    # set while an UpdateService that changes the deployment strategy starts its deployment (bluegreen.begin)
    strategy_switch: bool = False

    def live_tasks(self) -> list[EmuTask]:
        return [t for t in self.tasks if t.live]


class World:
    def __init__(self, moto_port: int, defaults: dict[str, Any] | None = None):
        self.moto_port = moto_port
        self.defaults = {**DEFAULT_CONFIG, **(defaults or {})}
        self.config = dict(self.defaults)
        self.generation = 0
        self.services: dict[int, ServiceState] = {}
        self.tasks: dict[str, EmuTask] = {}
        self.failing_images: list[str] = []
        # health of targets the emulator registered: (tg arn, id, port) -> (state, reason, description)
        self.target_health: dict[tuple[str, str, int], tuple[str, str | None, str | None]] = {}
        # test overrides: (tg arn, id, port or None) -> (state, reason, description)
        self.health_overrides: dict[tuple[str, str, int | None], tuple[str, str | None, str | None]] = {}
        self._ip_counter = itertools.count(1)
        # stale views of services (eventual consistency): id(svc) -> LagView
        self.lagged: dict[int, "LagView"] = {}
        # (account, region, cluster, service) -> when CreateService made it (iamrules.py)
        self.service_created_at: dict[tuple[str, str, str, str], Any] = {}
        # security group id -> monotonic time of its CreateSecurityGroup (sgVisibilitySeconds)
        self.sg_created: dict[str, float] = {}
        # ENIs of stopped tasks, deleted at a monotonic time: (when, ec2 backend, eni id)
        self.lingering_enis: list[tuple[float, Any, str]] = []
        # the ALB data plane (alb.DataPlane), set by patches.apply
        self.alb: Any = None
        # service deployments (bluegreen.py): ARN -> bluegreen.SD
        self.service_deployments: dict[str, Any] = {}
        self.revision_counter = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ config
    def set_config(self, patch: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            for key, value in patch.items():
                if key not in DEFAULT_CONFIG:
                    raise ValueError(f"unknown config key {key!r} (known: {', '.join(DEFAULT_CONFIG)})")
                if key in ("runContainers", "checkSecrets", "limitDescribeServices", "pageTaskDefinitions", "validateRequests",
                           "requireServiceLinkedRoles", "sgDependencies", "evaluateIam", "applyTaskRuntime", "runSidecars", "networkReachability",
                           "replaceDeploymentConfigurationMembers") or key.startswith("check"):
                    value = bool(value)
                elif key == "failThreshold":
                    value = None if value is None else max(1, int(value))
                else:
                    value = max(0.0, float(value))
                self.config[key] = value
            self._apply_settings()
            return dict(self.config)

    def _apply_settings(self) -> None:
        from moto import settings

        settings.ACM_VALIDATION_WAIT = int(self.config["acmValidationSeconds"])

    def image_failing(self, image: str) -> bool:
        return any(p and p in image for p in self.failing_images)

    # ------------------------------------------------------------------ eventual consistency
    def snapshot(self, svc: Any) -> "LagView":
        """What a reader sees of `svc` right now (before a write): the service and its task list."""
        view = copy.copy(svc)
        view.deployments = copy.deepcopy(svc.deployments)
        view.events = list(svc.events or [])
        view.load_balancers = copy.deepcopy(svc.load_balancers)
        st = self.state_for(svc)
        tasks = {t.arn: t.desired for t in st.tasks} if st is not None else {}
        return LagView(until=0.0, service=view, tasks=tasks)

    def begin_lag(self, svc: Any, before: "LagView | None") -> None:
        """After a write to `svc`: readers see `before` (None = the service did not exist) for a while."""
        lag = float(self.config["consistencyLagSeconds"])
        if lag <= 0:
            self.lagged.pop(id(svc), None)
            return
        if before is None:
            before = LagView(until=0.0, service=None, tasks={})
        before.until = time.monotonic() + lag
        self.lagged[id(svc)] = before

    def view_of(self, svc: Any) -> "LagView | None":
        """The stale view readers get of `svc`, or None when reads are current."""
        view = self.lagged.get(id(svc))
        if view is None:
            return None
        if time.monotonic() >= view.until:
            self.lagged.pop(id(svc), None)
            return None
        return view

    def breaker_threshold(self, desired: int) -> int:
        if self.config["failThreshold"] is not None:
            return int(self.config["failThreshold"])
        return min(200, max(3, math.ceil(0.5 * desired)))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        docker.remove_labelled(f"patchwork.emulator.port={self.moto_port}")
        self._thread = threading.Thread(target=self._loop, name="pwemu-ticker", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self.reset()

    def reset(self) -> None:
        with LOCK:
            self.generation += 1
            for t in self.tasks.values():
                t.cancel.set()
                docker.release_port(t.port)
            self.tasks.clear()
            self.services.clear()
            self.target_health.clear()
            self.health_overrides.clear()
            self.failing_images.clear()
            self.lagged.clear()
            self.service_created_at.clear()
            self.sg_created.clear()
            self.lingering_enis.clear()
            self.service_deployments.clear()
            self.config = dict(self.defaults)
            self._apply_settings()
            if self.alb is not None:
                self.alb.reset()  # stop every listener's server, free the load balancers' addresses
        docker.remove_labelled(f"patchwork.emulator.port={self.moto_port}")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with LOCK:
                    self.tick()
            except Exception:  # keep ticking; a bug must not freeze every service
                log("tick failed:\n" + traceback.format_exc())
            self._stop.wait(self.config["tickSeconds"] or 0.1)

    def tick(self) -> None:
        now = time.monotonic()
        if self.lingering_enis:
            due = [e for e in self.lingering_enis if e[0] <= now]
            self.lingering_enis = [e for e in self.lingering_enis if e[0] > now]
            for _, ec2, eni_id in due:
                ec2.enis.pop(eni_id, None)
        clusters = set()
        for st in list(self.services.values()):
            self._tick_service(st, now)
            clusters.add((id(st.backend), st.svc.cluster_name))
        for st in list(self.services.values()):
            key = (id(st.backend), st.svc.cluster_name)
            if key in clusters:
                clusters.discard(key)
                self._refresh_cluster(st.backend, st.svc.cluster_name)

    # ------------------------------------------------------------------ hooks from the moto patches
    def state_for(self, svc: Any) -> ServiceState | None:
        return self.services.get(id(svc))

    def on_create(self, backend: Any, svc: Any) -> None:
        st = ServiceState(svc=svc, backend=backend)
        self.services[id(svc)] = st
        svc.deployments = []
        svc.running_count = 0
        svc.pending_count = 0
        if (svc.deployment_controller or {}).get("type", "ECS") == "ECS" and svc.task_definition:
            self._new_deployment(st, svc.task_definition)
        self._refresh_counts(st)

    def on_update(self, svc: Any, *, new_deployment: bool, desired_changed: bool) -> None:
        st = self.state_for(svc)
        if st is None:
            return
        if desired_changed:
            st.steady = False
        if new_deployment and (svc.deployment_controller or {}).get("type", "ECS") == "ECS":
            dep = self._new_deployment(st, svc.task_definition)
            from . import bluegreen

            bluegreen.begin(self, st, dep, time.monotonic())
        self._refresh_counts(st)

    def on_delete(self, svc: Any) -> None:
        st = self.state_for(svc)
        if st is None:
            return
        now = time.monotonic()
        for t in st.live_tasks():
            if t.desired == RUNNING:
                self._drain(st, t, "Service deleted", now, delay=0)
        self._refresh_counts(st)

    def on_user_stop(self, t: EmuTask, reason: str) -> None:
        if t.live and t.desired == RUNNING:
            self._drain(t.st, t, reason or "Task stopped by user", time.monotonic(), delay=0)

    # ------------------------------------------------------------------ deployments
    def _event(self, st: ServiceState, message: str) -> None:
        ev = {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": f"(service {st.svc.name}) {message}"}
        st.svc.events = [ev, *(st.svc.events or [])][:100]

    def _new_deployment(self, st: ServiceState, td_arn: str, reason: str | None = None) -> dict[str, Any]:
        svc = st.svc
        dep_id = _deployment_id()
        now = utcnow()
        dep = {
            "id": dep_id,
            "status": "PRIMARY",
            "taskDefinition": td_arn,
            "desiredCount": svc.desired_count,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "launchType": svc.launch_type,
            "platformVersion": svc.platform_version or ("1.4.0" if svc.launch_type == "FARGATE" else None),
            "platformFamily": "Linux" if svc.launch_type == "FARGATE" else None,
            "networkConfiguration": copy.deepcopy(svc.network_configuration) or None,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": reason or f"ECS deployment {dep_id} in progress.",
        }
        older = [{**d, "status": "ACTIVE", "updatedAt": now} if d["status"] == "PRIMARY" else d for d in svc.deployments or []]
        svc.deployments = [dep, *older]
        st.meta[dep_id] = DeploymentMeta()
        st.steady = False
        from . import bluegreen

        bluegreen.record(self, st, dep)
        return dep

    def _replace_deployment(self, st: ServiceState, dep_id: str, **changes: Any) -> None:
        st.svc.deployments = [
            {**d, **changes, "updatedAt": utcnow()} if d["id"] == dep_id else d for d in st.svc.deployments
        ]

    def _fail_deployment(self, st: ServiceState, dep: dict[str, Any], rollback: bool, now: float,
                         reason: str = "ECS deployment circuit breaker: tasks failed to start.") -> None:
        for t in st.live_tasks():
            if t.deployment_id == dep["id"] and t.desired == RUNNING:
                self._drain(st, t, f"Scaling activity initiated by (deployment {dep['id']})", now, delay=0)
        self._replace_deployment(st, dep["id"], rolloutState="FAILED", rolloutStateReason=reason)
        self._event(st, f"(deployment {dep['id']}) deployment failed: {reason}")
        if rollback and st.last_completed:
            good_id, good_td = st.last_completed
            self._new_deployment(
                st, good_td, reason=f"ECS deployment circuit breaker: rolling back to deploymentId {good_id}."
            )
            st.svc.task_definition = good_td
            self._event(
                st,
                f"(deployment {st.svc.deployments[0]['id']}) deployment circuit breaker: "
                f"rolling back to deployment {good_id} ({good_td}).",
            )
        elif rollback:
            self._event(st, f"(deployment {dep['id']}) cannot roll back: the service has no completed deployment.")

    # ------------------------------------------------------------------ per-service step
    def _tick_service(self, st: ServiceState, now: float) -> None:
        svc = st.svc
        half = self.config["rolloutSeconds"] / 2
        for t in st.live_tasks():
            self._advance_simulated(st, t, now, half)

        if svc.status != "ACTIVE":
            for t in st.live_tasks():
                if t.desired == RUNNING:
                    self._drain(st, t, "Service deleted", now, delay=0)
            self._refresh_counts(st)
            return
        if not svc.deployments:
            self._refresh_counts(st)
            return

        primary = svc.deployments[0]
        pm = st.meta.setdefault(primary["id"], DeploymentMeta())
        from . import bluegreen

        if self.service_deployments:
            bluegreen.settle(self, st)
        sd = bluegreen.active_bg(self, st, primary)
        if sd is not None:  # a BLUE_GREEN / CANARY / LINEAR deployment drives its own stages
            bluegreen.tick(self, sd, now)
            if st.started_batch:
                ids = " ".join(f"(task {i})" for i in st.started_batch)
                self._event(st, f"has started {len(st.started_batch)} tasks: {ids}.")
                st.started_batch = []
            self._refresh_counts(st)
            return
        desired = int(svc.desired_count or 0)
        dcfg = getattr(svc, "deployment_configuration", None) or {}

        if primary["rolloutState"] == "IN_PROGRESS":
            breaker = dcfg.get("deploymentCircuitBreaker") or {}
            if breaker.get("enable") and pm.breaker_failures >= self.breaker_threshold(desired):
                self._fail_deployment(st, primary, bool(breaker.get("rollback")), now)
                primary = svc.deployments[0]
                pm = st.meta.setdefault(primary["id"], DeploymentMeta())

        mine = [t for t in st.live_tasks() if t.deployment_id == primary["id"] and t.desired == RUNNING]
        others = [t for t in st.live_tasks() if t.deployment_id != primary["id"]]

        # Start or stop tasks of the PRIMARY deployment (a FAILED one launches nothing).
        if primary["rolloutState"] != "FAILED":
            if len(mine) > desired:
                extra = sorted(mine, key=lambda t: (t.status == RUNNING, t.launched_at))[: len(mine) - desired]
                for t in extra:
                    self._drain(st, t, f"Scaling activity initiated by (deployment {primary['id']})", now, half)
                mine = [t for t in mine if t not in extra]
            elif len(mine) < desired and now >= pm.next_launch_at:
                wanted = desired - len(mine)
                if primary["rolloutState"] == "IN_PROGRESS":
                    max_total = math.floor(desired * float(dcfg.get("maximumPercent", 200)) / 100)
                    wanted = min(wanted, max(0, max_total - len(mine) - len(others)))
                for _ in range(wanted):
                    t = self._launch(st, primary, now)
                    if t is not None:
                        mine.append(t)

        # Drain old deployments as new tasks become healthy (minimumHealthyPercent).
        healthy_new = sum(1 for t in mine if t.status == RUNNING and t.healthy)
        min_healthy = math.ceil(desired * float(dcfg.get("minimumHealthyPercent", 100)) / 100)
        keep_old = max(0, min_healthy - healthy_new)
        old_wanted = [t for t in others if t.desired == RUNNING]
        if len(old_wanted) > keep_old:
            victims = sorted(old_wanted, key=lambda t: (t.healthy, t.launched_at))[: len(old_wanted) - keep_old]
            for t in victims:
                self._drain(st, t, f"Scaling activity initiated by (deployment {primary['id']})", now, half)
        others = [t for t in st.live_tasks() if t.deployment_id != primary["id"]]

        if st.started_batch:
            ids = " ".join(f"(task {i})" for i in st.started_batch)
            self._event(st, f"has started {len(st.started_batch)} tasks: {ids}.")
            st.started_batch = []

        settled = healthy_new == desired and len(mine) == desired and not others
        if primary["rolloutState"] == "IN_PROGRESS" and settled:
            self._replace_deployment(
                st, primary["id"], rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {primary['id']} completed."
            )
            svc.deployments = [svc.deployments[0]]
            st.last_completed = (primary["id"], primary["taskDefinition"])
            self._event(st, f"(deployment {primary['id']}) deployment completed.")
            self._event(st, "has reached a steady state.")
            st.steady = True
        elif primary["rolloutState"] == "COMPLETED" and settled and not st.steady:
            self._event(st, "has reached a steady state.")
            st.steady = True
        elif not settled and primary["rolloutState"] == "COMPLETED":
            st.steady = False
        self._refresh_counts(st)

    def _advance_simulated(self, st: ServiceState, t: EmuTask, now: float, half: float) -> None:
        if t.mode == "simulated" and t.status in (PROVISIONING, PENDING) and t.desired == RUNNING:
            if now >= t.launched_at + half:
                if t.failing:
                    self._task_failed(t, t.fail_reason, t.fail_code, t.fail_exit)
                else:
                    t.status = RUNNING
                    self._set_moto_task(t, started=True)
                    self._register_targets(st, t)
                    self._became_healthy(t)
        if t.desired == STOPPED and t.mode != "real" and t.live and now >= t.stop_at:
            # "starting"/"real" tasks are finished by their runner thread once the container is gone
            if t.mode == "simulated":
                self._finish_stop(t)

    # ------------------------------------------------------------------ tasks
    def _launch(self, st: ServiceState, dep: dict[str, Any], now: float) -> EmuTask | None:
        svc, backend = st.svc, st.backend
        try:
            td = backend.describe_task_definition(dep["taskDefinition"])
        except Exception as exc:  # deregistered / deleted: ECS would fail the task too
            log(f"cannot launch task for {svc.name}: {exc}")
            st.meta[dep["id"]].next_launch_at = now + 5
            return None
        containers = td.container_definitions or [{}]
        lb_name = next((lb.get("containerName") for lb in svc.load_balancers or [] if lb.get("containerName")), None)
        essential = next(
            (c for c in containers if lb_name and c.get("name") == lb_name),
            next((c for c in containers if c.get("essential", True)), containers[0]),
        )
        image = essential.get("image", "")
        task_id = uuid.uuid4().hex
        t = EmuTask(
            id=task_id,
            arn="",
            st=st,
            deployment_id=dep["id"],
            task_definition_arn=td.arn,
            image=image,
            launched_at=now,
        )
        t.moto_task = self._make_moto_task(st, td, t)
        t.arn = t.moto_task.task_arn if t.moto_task is not None else (
            f"arn:aws:ecs:{svc.region_name}:{backend.account_id}:task/{svc.cluster_name}/{task_id}"
        )
        if t.moto_task is not None:
            t.id = t.moto_task.id
        t.ip = self._task_ip(t)

        from . import iamrules  # iamrules imports this module

        secret_values, secret_error = self._resolve_secrets(st, essential, getattr(td, "execution_role_arn", None), t.id)
        t.definitions = [c for c in containers if c is essential or self.config["runSidecars"]]
        side_secrets: dict[str, dict[str, str]] = {}
        for c in t.definitions:
            if c is not essential and not secret_error:
                side_secrets[c.get("name", "")], secret_error = self._resolve_secrets(st, c, getattr(td, "execution_role_arn", None), t.id)
        pull_error = self._pull_error(st, image) if self.config["checkImages"] else ""
        net_error = self.egress_error(st.backend.account_id, svc.region_name, svc.network_configuration,
                                      self._task_subnet(t), t.definitions)
        fresh = next((a for a in iamrules.task_definition_roles(td) if iamrules.fresh_role(self, backend.account_id, a)), None)
        if fresh:
            # ECS cannot assume a role IAM has not propagated yet: the task never starts.
            t.failing, t.fail_reason = True, iamrules.unassumable_role_message(fresh)
            t.fail_code, t.fail_exit = "TaskFailedToStart", None
        elif net_error:
            t.failing, t.fail_reason, t.fail_code, t.fail_exit = True, net_error, "TaskFailedToStart", None
            t.note = "no route from the task's subnet (networkReachability)"
        elif secret_error:
            t.failing, t.fail_reason, t.fail_code, t.fail_exit = True, secret_error, "TaskFailedToStart", None
        elif pull_error:
            t.failing, t.fail_reason, t.fail_code, t.fail_exit = True, pull_error, "TaskFailedToStart", None
            t.note = "image cannot be pulled"
        elif self.image_failing(image):
            t.failing = True
            t.note = "image marked failing"
        elif self.config["runContainers"]:
            t.mode = "starting"
            def container_spec(c: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
                return {
                    "name": c.get("name", "app"),
                    "image": c.get("image", ""),
                    "main": c is essential,
                    "essential": c.get("essential", True) or c is essential,
                    "definition": c,
                    "env": {
                        **self._environment_files(st, c),
                        **{e["name"]: str(e.get("value", "")) for e in c.get("environment") or [] if "name" in e},
                        **secrets,
                    },
                    "entryPoint": c.get("entryPoint"),
                    "command": c.get("command"),
                    "workingDirectory": c.get("workingDirectory"),
                    "options": runtime.docker_options(td, c) if self.config["applyTaskRuntime"] else [],
                }

            main = container_spec(essential, secret_values)
            spec = {
                **main,
                "containerName": main["name"],
                "td": td,
                "containers": [
                    main if c is essential else container_spec(c, side_secrets.get(c.get("name", ""), {}))
                    for c in t.definitions
                ],
            }
            threading.Thread(
                target=self._run_real, args=(t, self.generation, spec), name=f"pwemu-task-{t.id[:8]}", daemon=True
            ).start()
        else:
            t.note = "runContainers=false"
        st.tasks.append(t)
        self.tasks[t.id] = t
        st.started_batch.append(t.id)
        self._trim_stopped(st)
        return t

    def egress_error(self, account: str, region: str, network_configuration: dict[str, Any] | None,
                     subnet_id: str | None, containers: list[dict[str, Any]]) -> str:
        """Why a task in this subnet cannot reach its registry, logs or secrets (reach.py), or ""."""
        if not self.config["networkReachability"]:
            return ""
        from . import reach

        def is_ecr(image: str) -> bool:  # the loopback registry stands for ECR in this world
            return bool(_ECR_IMAGE.match(image)) or docker.is_loopback_registry_ref(image)

        return reach.egress_error(account, region, network_configuration, subnet_id, containers, is_ecr)

    @staticmethod
    def _task_subnet(t: Any) -> str | None:
        for att in getattr(t.moto_task, "attachments", None) or []:
            for d in att.get("details", []):
                if d.get("name") == "subnetId":
                    return d["value"]
        return None

    def _pull_error(self, st: ServiceState, image: str) -> str:
        """Why ECS could not pull `image` (a CannotPullContainerError reason), or "" when it can.

        Checked: ECR images of this world (repository and tag/digest in moto's ECR) and images in a
        loopback registry (the manifest, over HTTP). Other registries are out of reach here: assumed pullable.
        """
        m = _ECR_IMAGE.match(image)
        if m and m.group("account") == st.backend.account_id:
            from moto.ecr.models import ecr_backends

            repo = ecr_backends[m.group("account")][m.group("region")].repositories.get(m.group("repo"))
            ref = m.group("digest") or m.group("tag") or "latest"
            if repo is None:
                return (
                    f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve "
                    f"ref {image}: {image}: not found (repository {m.group('repo')} does not exist)"
                )
            if not any(ref == i.image_digest or ref in (i.image_tags or []) for i in repo.images):
                return (
                    f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve "
                    f"ref {image}: {image}: not found"
                )
            return ""
        if docker.is_loopback_registry_ref(image) and not self.config["runContainers"]:
            # With runContainers the task's runner pulls for real (and fails the same way).
            ok, why = docker.manifest_exists(image)
            if not ok:
                return f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref {image}: {why}"
        return ""

    def _trim_stopped(self, st: ServiceState) -> None:
        stopped = [t for t in st.tasks if not t.live]
        for t in stopped[: max(0, len(stopped) - 100)]:
            st.tasks.remove(t)
            self.tasks.pop(t.id, None)

    def _resolve_secrets(self, st: ServiceState, container: dict[str, Any], execution_role: str | None = None,
                         task_id: str = "") -> tuple[dict[str, str], str]:
        """The container's `secrets` as ECS's agent resolves them for the task's environment.

        SSM (`arn:…:parameter/NAME` or NAME, String or SecureString — decrypted, as the agent asks
        GetParameters WithDecryption) and Secrets Manager (`arn:…:secret:NAME-AbCdEf` whole, or
        `…:json-key:version-stage:version-id` with any field empty). With evaluateIam, the task
        execution role must be allowed to read each one (iameval.py). A value that cannot be had
        stops the task with the agent's ResourceInitializationError (README "Secrets").
        """
        values: dict[str, str] = {}
        if not container.get("secrets"):
            return values, ""
        account, region = st.backend.account_id, st.svc.region_name
        for s in container["secrets"]:
            ref = s.get("valueFrom", "")
            if self.config.get("evaluateIam"):  # the execution role must be allowed to read it (iameval.py)
                from .iameval import execution_role_denial

                denied = execution_role_denial(account, region, execution_role, ref, task_id)
                if denied:
                    return {}, f"ResourceInitializationError: unable to pull secrets or registry auth: {denied}"
            if ":secretsmanager:" in ref:
                value, why = _secretsmanager_value(ref, account, region)
            else:
                value, why = _ssm_value(ref, account, region)
            if why:
                if self.config["checkSecrets"]:
                    return {}, f"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: {why}"
                continue
            values[s["name"]] = value
        return values, ""

    def _environment_files(self, st: ServiceState, container: dict[str, Any]) -> dict[str, str]:
        """`environmentFiles` (type s3: `arn:aws:s3:::bucket/key`), read from this world's S3: KEY=VALUE lines,
        `#` comments skipped; `environment` wins over them (ECS Developer Guide, *Pass environment variables*)."""
        out: dict[str, str] = {}
        for f in container.get("environmentFiles") or []:
            arn = str(f.get("value", ""))
            if not arn.startswith("arn:aws:s3:::") or "/" not in arn:
                continue
            bucket, _, key = arn[len("arn:aws:s3:::"):].partition("/")
            try:
                from moto.s3.models import s3_backends

                obj = s3_backends[st.backend.account_id]["global"].get_object(bucket, key)
                text = obj.value.decode("utf-8", "replace") if obj is not None else ""
            except Exception:
                continue
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, _, v = line.partition("=")
                    out[k.strip()] = v
        return out

    def _task_ip(self, t: EmuTask) -> str:
        mt = t.moto_task
        for att in getattr(mt, "attachments", None) or []:
            for d in att.get("details", []):
                if d.get("name") == "privateIPv4Address":
                    return d["value"]
        n = next(self._ip_counter)
        return f"10.0.{(n // 250) % 250}.{n % 250 + 1}"

    def _make_moto_task(self, st: ServiceState, td: Any, t: EmuTask) -> Any:
        from .patches import ServiceTask  # late import: patches imports this module

        svc, backend = st.svc, st.backend
        try:
            cluster = backend._get_cluster(svc.cluster_name)
            mt = ServiceTask(
                t,
                cluster=cluster,
                task_definition=td,
                container_instance_arn=None,
                resource_requirements=None,
                backend=backend,
                group=f"service:{svc.name}",
                launch_type=svc.launch_type or "",
                started_by=t.deployment_id,
                tags=[],
                networking_configuration=self._task_network(svc.network_configuration),
                platform_version=svc.platform_version,
            )
        except Exception as exc:
            log(f"task for {svc.name} not added to moto's task list: {exc}")
            return None
        mt.created_at = utcnow()
        mt.health_status = "UNKNOWN"
        try:  # moto models one container per task: one per container definition, as ECS describes them
            from moto.ecs.models import Container

            made = []
            for c in td.container_definitions or []:
                mc = Container(td)
                mc.name, mc.image = c.get("name"), c.get("image")
                mc.cpu, mc.memory, mc.environment, mc.command = c.get("cpu"), c.get("memory"), c.get("environment"), c.get("command")
                mc.health_status = "UNKNOWN"
                made.append(mc)
            if made:
                mt.containers = made
        except Exception as exc:
            log(f"task containers not modelled: {exc}")
        backend.tasks.setdefault(cluster.name, {})[mt.task_arn] = mt
        return mt

    @staticmethod
    def _task_network(nc: dict[str, Any] | None) -> dict[str, Any] | None:
        if not nc or "awsvpcConfiguration" not in nc:
            return None
        conf = nc["awsvpcConfiguration"]
        return {"awsvpcConfiguration": {**conf, "securityGroups": conf.get("securityGroups") or []}}

    def _set_moto_task(self, t: EmuTask, *, started: bool = False, stopped: bool = False) -> None:
        mt = t.moto_task
        if mt is None:
            return
        now = utcnow()
        if started:
            mt.started_at = now
            mt.pull_started_at = mt.pull_started_at if hasattr(mt, "pull_started_at") else now
        if stopped:
            mt.stopped_at = now
            mt.stopped_reason = t.stopped_reason
            mt.stop_code = t.stop_code or None
            for c in mt.containers:
                c.last_status = STOPPED
                c.exitCode = t.container_exits.get(c.name, t.exit_code) if t.containers else t.exit_code
                c.reason = t.stopped_reason if t.stop_code == "EssentialContainerExited" or (
                    t.stopped_reason or "").startswith("CannotPullContainerError") else None
        else:
            for c in mt.containers:
                c.last_status = STOPPED if c.name in t.container_exits else t.status
                if c.name in t.container_exits:
                    c.exitCode = t.container_exits[c.name]
        for c in mt.containers:
            c.health_status = t.container_health.get(c.name, "UNKNOWN")
        mt.desired_status = t.desired
        # ECS: the task's health is its essential containers' health checks (UNKNOWN without any).
        mt.health_status = runtime.task_health(t.definitions, t.container_health)

    def _became_healthy(self, t: EmuTask) -> None:
        t.healthy = True
        t.ever_healthy = True
        meta = t.st.meta.get(t.deployment_id)
        breaker = (getattr(t.st.svc, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
        if meta is not None and breaker.get("resetOnHealthyTask", True):
            meta.breaker_failures = 0
        self._set_moto_task(t)

    def _drain(self, st: ServiceState, t: EmuTask, reason: str, now: float, delay: float) -> None:
        """Ask a task to stop: deregister its targets now, stop it after `delay` (deregistration delay)."""
        t.desired = STOPPED
        t.stopped_reason = t.stopped_reason or reason
        t.stop_code = t.stop_code or "ServiceSchedulerInitiated"
        t.stop_at = now + (delay if t.status == RUNNING else 0)
        if t.targets:
            self._event(st, "has begun draining connections on 1 tasks.")
        self._deregister_targets(st, t)
        self._set_moto_task(t)

    def _finish_stop(self, t: EmuTask) -> None:
        if not t.live:
            return
        t.status = STOPPED
        t.desired = STOPPED
        t.healthy = False
        self._deregister_targets(t.st, t)
        docker.release_port(t.port)
        self._set_moto_task(t, stopped=True)
        self._delete_eni(t)
        self._event(t.st, f"has stopped 1 running tasks: (task {t.id}).")

    def _task_failed(self, t: EmuTask, reason: str, stop_code: str, exit_code: int | None) -> None:
        """A task the scheduler did not ask to stop has stopped: count it against the deployment."""
        if not t.live:
            return
        was_wanted = t.desired == RUNNING
        t.stopped_reason = reason
        t.stop_code = stop_code
        t.exit_code = exit_code
        self._finish_stop(t)
        if was_wanted:
            meta = t.st.meta.setdefault(t.deployment_id, DeploymentMeta())
            meta.failed_tasks += 1
            meta.breaker_failures += 1
            # ECS throttles relaunches of failing tasks; keep a short back-off.
            meta.next_launch_at = time.monotonic() + max(0.5, self.config["rolloutSeconds"] / 4)

    def _delete_eni(self, t: EmuTask) -> None:
        mt = t.moto_task
        if mt is None:
            return
        try:
            from moto.ec2 import ec2_backends

            ec2 = ec2_backends[t.st.backend.account_id][t.st.svc.region_name]
            for att in mt.attachments or []:
                for d in att.get("details", []):
                    if d.get("name") == "networkInterfaceId":
                        # ECS detaches and deletes a task's ENI a while after the task stopped.
                        linger = self.config["eniLingerSeconds"]
                        if linger > 0 and d["value"] in ec2.enis:
                            self.lingering_enis.append((time.monotonic() + linger, ec2, d["value"]))
                        else:
                            ec2.enis.pop(d["value"], None)
        except Exception:
            pass

    # ------------------------------------------------------------------ load balancer targets
    def _target_groups(self, st: ServiceState, t: EmuTask | None = None) -> list[tuple[Any, int | None]]:
        """The target groups a task of `st` registers in: the service's, or (blue/green) its deployment's."""
        from moto.elbv2.models import elbv2_backends

        out = []
        elbv2 = elbv2_backends[st.backend.account_id][st.svc.region_name]
        mapping = st.tg_map.get(t.deployment_id, {}) if t is not None else {}
        for lb in st.svc.load_balancers or []:
            arn = lb.get("targetGroupArn", "")
            tg = elbv2.target_groups.get(mapping.get(arn, arn))
            if tg is not None:
                out.append((tg, lb.get("containerPort")))
        return out

    def _register_targets(self, st: ServiceState, t: EmuTask) -> None:
        for tg, container_port in self._target_groups(st, t):
            if t.mode == "real":
                tid, port, state = "127.0.0.1", int(t.port or 0), ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
            else:
                tid, port, state = t.ip, int(container_port or tg.port or 80), ("healthy", None, None)
            tg.targets[f"{tid}:{port}"] = {"Id": tid, "Port": port}
            tg.deregistered_targets.pop(f"{tid}:{port}", None)
            self.target_health[(tg.arn, tid, port)] = state
            t.targets.append((tg.arn, tid, port))
            self._event(st, f"registered 1 targets in (target-group {tg.arn})")

    def _deregister_targets(self, st: ServiceState, t: EmuTask) -> None:
        if not t.targets:
            return
        from moto.elbv2.models import elbv2_backends

        elbv2 = elbv2_backends[st.backend.account_id][st.svc.region_name]
        for arn, tid, port in t.targets:
            tg = elbv2.target_groups.get(arn)
            if tg is not None:
                tg.targets.pop(f"{tid}:{port}", None)
            self.target_health.pop((arn, tid, port), None)
            self._event(st, f"deregistered 1 targets in (target-group {arn})")
        t.targets = []

    def health_of(self, tg_arn: str, tid: str, port: int | None) -> tuple[str, str | None, str | None] | None:
        for key in ((tg_arn, tid, port), (tg_arn, tid, None)):
            if key in self.health_overrides:
                return self.health_overrides[key]
        if port is not None:
            return self.target_health.get((tg_arn, tid, int(port)))
        return None

    # ------------------------------------------------------------------ counts
    def _refresh_counts(self, st: ServiceState) -> None:
        svc = st.svc
        live = st.live_tasks()
        deployments = []
        for d in svc.deployments or []:
            ts = [t for t in live if t.deployment_id == d["id"]]
            meta = st.meta.get(d["id"])
            update = {
                "runningCount": sum(1 for t in ts if t.status == RUNNING),
                "pendingCount": sum(1 for t in ts if t.status in (PROVISIONING, PENDING)),
                "desiredCount": int(svc.desired_count or 0)
                if d["status"] == "PRIMARY"
                else sum(1 for t in ts if t.desired == RUNNING),
                "failedTasks": meta.failed_tasks if meta else d.get("failedTasks", 0),
            }
            if any(d.get(k) != v for k, v in update.items()):
                d = {**d, **update, "updatedAt": utcnow()}
            deployments.append(d)
        svc.deployments = deployments
        svc.running_count = sum(1 for t in live if t.status == RUNNING)
        svc.pending_count = sum(1 for t in live if t.status in (PROVISIONING, PENDING))

    def _refresh_cluster(self, backend: Any, cluster_name: str) -> None:
        cluster = backend.clusters.get(cluster_name)
        if cluster is None:
            return
        running = pending = 0
        for task in (backend.tasks.get(cluster_name) or {}).values():
            status = task.last_status if hasattr(task, "_emu") else getattr(task, "_status", None)
            running += status == RUNNING
            pending += status in (PROVISIONING, PENDING)
        cluster.running_tasks_count = running
        cluster.pending_tasks_count = pending
        cluster.active_services_count = sum(
            1 for s in backend.services.values() if s.cluster_name == cluster_name and s.status == "ACTIVE"
        )

    # ------------------------------------------------------------------ real containers
    def _run_real(self, t: EmuTask, generation: int, spec: dict[str, Any]) -> None:
        try:
            self._run_real_inner(t, generation, spec)
        except Exception:
            log("task runner failed:\n" + traceback.format_exc())
            with LOCK:
                if generation == self.generation and t.live:
                    docker.remove_container(t.container_id)
                    self._task_failed(t, "CannotStartContainerError: emulator error (see moto log)", "TaskFailedToStart", None)

    def _probes(self, t: EmuTask) -> list[tuple[str, str, str, bool, int]]:
        """(arn, path, matcher, enabled, unhealthy threshold) of the target groups t is registered in."""
        out = []
        for tg, _ in self._target_groups(t.st, t):
            if any(arn == tg.arn for arn, _, _ in t.targets):
                try:
                    threshold = max(1, int(tg.unhealthy_threshold_count or 2))
                except (TypeError, ValueError):
                    threshold = 2
                matcher = (tg.matcher or {}).get("HttpCode", "200")
                out.append((tg.arn, tg.health_check_path or "/", matcher, bool(tg.health_check_enabled), threshold))
        return out

    def _current(self, t: EmuTask, generation: int) -> bool:
        return generation == self.generation and not t.cancel.is_set()

    def _preflight(self, t: EmuTask, spec: dict[str, Any], facts: dict[str, dict[str, str] | None]) -> tuple[str, str]:
        """What Fargate does before/at the start of the task's processes: ("fail", note) for a task that
        stops (exec format error, a privileged port it cannot bind), ("simulate", why) when this engine
        cannot run a well-formed image, ("", "") to run. Marks skipped non-essential containers exited."""
        engine = None
        for c in spec["containers"]:
            f = facts.get(c["image"]) or {}
            d = c["definition"]
            if self.config["checkArchitecture"]:
                bad = runtime.arch_mismatch(spec["td"], f.get("architecture"))
                if bad:
                    entry = (c["entryPoint"] or [""])[0] or "the image's entrypoint"
                    note = (
                        f"{c['name']}: exec {entry}: exec format error (a {bad} image on a "
                        f"{runtime.task_architecture(spec['td'])} task)"
                    )
                    if c["essential"]:
                        return "fail", note
                    t.container_exits[c["name"]] = 1
                    continue
            want = runtime.ARCH.get(runtime.task_architecture(spec["td"]))
            if f.get("architecture") and want and f["architecture"] == want:
                engine = engine or docker.engine_arch()
                if engine != want:
                    return "simulate", f"a {want} image cannot run on this {engine} engine: simulated"
            if self.config["checkPortPrivilege"]:
                user = runtime.effective_user(d, f.get("user"))
                port = runtime.privileged_port(d, user)
                if port:
                    note = (
                        f"{c['name']}: listen tcp :{port}: bind: permission denied "
                        f"(user {user} is not root; ports below 1024 need root on Fargate)"
                    )
                    if c["essential"]:
                        return "fail", note
                    t.container_exits[c["name"]] = 1
        return "", ""

    def _remove_all(self, t: EmuTask) -> None:
        for cid in list(t.containers.values()):
            docker.remove_container(cid)

    def _health_step(self, t: EmuTask, specs: dict[str, dict[str, Any]], sched: dict[str, dict[str, float]], now: float) -> None:
        """Run the container health checks that are due (docker exec), ECS semantics: a pass is HEALTHY,
        `retries` failures in a row after `startPeriod` are UNHEALTHY (timings x containerHealthScale)."""
        scale = float(self.config["containerHealthScale"]) or 1.0
        for name, cid in list(t.containers.items()):
            hc = specs[name]["definition"].get("healthCheck") if name in specs else None
            argv = runtime.health_command(hc or {})
            if not argv or name in t.container_exits:
                continue
            s = sched.setdefault(name, {"next": now, "fails": 0, "since": now})
            if now < s["next"]:
                continue
            interval = max(0.5, float(hc.get("interval") or 30) * scale)
            s["next"] = now + interval
            code = docker.exec_status(cid, argv, float(hc.get("timeout") or 5))
            with LOCK:
                if code == 0:
                    s["fails"] = 0
                    t.container_health[name] = "HEALTHY"
                elif now - s["since"] >= float(hc.get("startPeriod") or 0) * scale:
                    s["fails"] += 1
                    if s["fails"] >= int(hc.get("retries") or 3):
                        t.container_health[name] = "UNHEALTHY"
                t.container_health.setdefault(name, "UNKNOWN")
                self._set_moto_task(t)

    def _dependency_met(self, t: EmuTask, dep: dict[str, Any]) -> bool | None:
        """dependsOn condition: True met, False not yet, None never (SUCCESS after a failed exit, COMPLETE/SUCCESS
        of a container that exited early is fine)."""
        name, cond = dep.get("containerName"), dep.get("condition", "START")
        if name not in t.containers and name not in t.container_exits:
            return False
        code = t.container_exits.get(name, "running")
        if cond == "START":
            return True
        if cond == "COMPLETE":
            return code != "running"
        if cond == "SUCCESS":
            return None if code not in ("running", 0) else code == 0
        if cond == "HEALTHY":
            return t.container_health.get(name) == "HEALTHY"
        return True

    def _run_real_inner(self, t: EmuTask, generation: int, spec: dict[str, Any]) -> None:
        images = list(dict.fromkeys(c["image"] for c in spec["containers"]))
        ok, why, failed_image = True, "", spec["image"]
        if not docker.engine_available():
            ok, why = False, "no Docker engine"
        else:
            for img in images:
                ok, why = docker.obtain_image(img)
                if not ok:
                    failed_image = img
                    break
        facts = {img: docker.image_facts(img) for img in images} if ok and self.config["applyTaskRuntime"] else {}
        with LOCK:
            if not self._current(t, generation):
                return
            if not ok and self.config["checkImages"] and docker.is_loopback_registry_ref(failed_image) \
                    and why != "no Docker engine":
                # ECS: the task stops before any container starts, and counts as a failed task.
                self._task_failed(
                    t, f"CannotPullContainerError: failed to pull {failed_image}: {why}", "TaskFailedToStart", None
                )
                return
            verdict, note = self._preflight(t, spec, facts) if self.config["applyTaskRuntime"] else ("", "")
            if verdict == "fail":
                t.note = note
                self._task_failed(t, "Essential container in task exited", "EssentialContainerExited", 1)
                return
            if not ok or verdict == "simulate":
                # Fall back to simulation: the task runs "by time" from now on.
                t.mode = "simulated"
                t.note = why or note
                t.launched_at = time.monotonic()
                return
            if t.desired == STOPPED:
                self._finish_stop(t)
                return
            log_target, log_error = awslogs.prepare_service_task(self, t, spec)
            if log_error:
                self._task_failed(t, log_error, "TaskFailedToStart", None)
                return
            t.port = docker.alloc_port()
            t.status = PENDING
            self._set_moto_task(t)
            svc = t.st.svc
            base = f"pw-{svc.name}-{t.id[:12]}"[:100]
            labels = {
                "patchwork.emulator.port": str(self.moto_port),
                "patchwork.task": t.id,
                "patchwork.service": svc.name,
                "patchwork.cluster": svc.cluster_name,
            }
            timeout = float(self.config["healthTimeoutSeconds"])
        specs = {c["name"]: c for c in spec["containers"]}
        sched: dict[str, dict[str, float]] = {}
        order = runtime.start_order(spec["containers"]) or spec["containers"]
        for c in order:
            if c["name"] in t.container_exits:
                continue  # did not start (preflight)
            wait_until = time.monotonic() + timeout
            while True:
                with LOCK:
                    if not self._current(t, generation) or t.desired == STOPPED:
                        break
                    met = [self._dependency_met(t, d) for d in c["definition"].get("dependsOn") or []]
                if all(m is True for m in met):
                    break
                if any(m is None for m in met) or time.monotonic() > wait_until:
                    self._remove_all(t)
                    with LOCK:
                        if self._current(t, generation):
                            self._task_failed(
                                t,
                                f"CannotStartContainerError: container {c['name']}: its dependsOn conditions were not met",
                                "TaskFailedToStart",
                                None,
                            )
                    return
                self._watch_exits(t, specs)
                self._health_step(t, specs, sched, time.monotonic())
                if t.cancel.wait(0.5):
                    break
            with LOCK:
                if not self._current(t, generation) or t.desired == STOPPED:
                    stop = True
                else:
                    stop = False
            if stop:
                self._remove_all(t)
                with LOCK:
                    if self._current(t, generation):
                        self._finish_stop(t)
                return
            env = {**c["env"], "PORT": str(t.port)} if c["main"] else dict(c["env"])
            cid, err = docker.start_container(
                name=base if c["main"] else f"{base}-{c['name']}"[:120],
                image=c["image"],
                env=env,
                labels={**labels, "patchwork.container": c["name"]},
                entry_point=c["entryPoint"],
                command=c["command"],
                working_dir=c["workingDirectory"],
                options=c["options"],
            )
            with LOCK:
                current = self._current(t, generation)
                if current and cid:
                    t.containers[c["name"]] = cid
            if not current:
                docker.remove_container(cid)
                self._remove_all(t)
                return
            if cid is None:
                self._remove_all(t)
                with LOCK:
                    if self._current(t, generation):
                        self._task_failed(t, f"CannotStartContainerError: {err}", "TaskFailedToStart", None)
                return
        with LOCK:
            if not self._current(t, generation):
                self._remove_all(t)
                return
            cid = t.containers.get(spec["name"])
            if t.desired == STOPPED or cid is None:
                self._remove_all(t)
                self._finish_stop(t)
                return
            t.container_id = cid
            t.shipper = awslogs.ship(log_target, cid)  # type: ignore[attr-defined]
            t.mode = "real"
            t.status = RUNNING
            t.note = f"docker container {cid[:12]} on 127.0.0.1:{t.port}"
            self._set_moto_task(t, started=True)
            self._register_targets(t.st, t)
        started = time.monotonic()
        deadline = started + timeout
        failures = 0
        misses: dict[str, int] = {}
        last_inspect = 0.0
        while not t.cancel.wait(0.5):
            now = time.monotonic()
            with LOCK:
                if not self._current(t, generation):
                    return
                stop_now = t.desired == STOPPED and now >= t.stop_at
            if stop_now:
                self._remove_all(t)
                with LOCK:
                    if self._current(t, generation):
                        self._finish_stop(t)
                return
            if now - last_inspect >= 1.0:
                last_inspect = now
                exited = self._watch_exits(t, specs)
                if exited is not None:
                    self._remove_all(t)
                    with LOCK:
                        if self._current(t, generation):
                            self._task_failed(t, "Essential container in task exited", "EssentialContainerExited", exited)
                    return
            self._health_step(t, specs, sched, now)
            with LOCK:
                sick = runtime.task_health(t.definitions, t.container_health) == "UNHEALTHY"
            if sick:
                # ECS replaces a task whose essential container reports UNHEALTHY.
                self._remove_all(t)
                with LOCK:
                    if self._current(t, generation):
                        self._task_failed(t, "Task failed container health checks", "ServiceSchedulerInitiated", None)
                return
            with LOCK:  # read the target groups each time: ModifyTargetGroup applies at once
                probes = self._probes(t)
            results = []
            for arn, path, matcher, enabled, _ in probes:
                status = docker.http_status(t.port, path, timeout=2.0) if enabled else 200
                results.append((arn, status, status is not None and docker.matcher_accepts(matcher, status)))
            with LOCK:
                if not self._current(t, generation) or t.desired == STOPPED:
                    continue
                for (arn, status, good), (*_, threshold) in zip(results, probes):
                    key = (arn, "127.0.0.1", int(t.port))
                    if key not in self.target_health:
                        continue
                    misses[arn] = 0 if good else misses.get(arn, 0) + 1
                    if good:
                        self.target_health[key] = ("healthy", None, None)
                    elif misses[arn] >= threshold:  # the target group's UnhealthyThresholdCount
                        self.target_health[key] = (
                            ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
                            if status is None
                            else ("unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]")
                        )
                all_good = all(good for _, _, good in results) if results else now - started >= 1.0
                if all_good:
                    failures = 0
                    if not t.healthy:
                        self._became_healthy(t)
                        t.note = f"docker container {cid[:12]} on 127.0.0.1:{t.port}, healthy"
                    continue
                failures += 1
                if t.healthy and failures >= 2:
                    t.healthy = False
                    self._set_moto_task(t)
                give_up = (not t.ever_healthy and now > deadline) or (t.ever_healthy and failures >= 6)
                if not give_up:
                    continue
                failed_tg = next((arn for arn, _, good in results if not good), "")
            self._remove_all(t)
            with LOCK:
                if self._current(t, generation):
                    self._task_failed(t, f"Task failed ELB health checks in (target-group {failed_tg})", "ServiceSchedulerInitiated", None)
            return

    def _watch_exits(self, t: EmuTask, specs: dict[str, dict[str, Any]]) -> int | None:
        """Inspect the task's containers: record exits; the exit code of an essential one that exited, else None."""
        for name, cid in list(t.containers.items()):
            if name in t.container_exits:
                continue
            running, code = docker.container_state(cid)
            if running:
                continue
            with LOCK:
                t.container_exits[name] = code
                self._set_moto_task(t)
            if specs.get(name, {}).get("essential", True):
                return code if code is not None else 1
        return None

# ---------------------------------------------------------------------- secrets (ECS agent's resolution)
def _arn_parts(ref: str) -> list[str] | None:
    return ref.split(":") if ref.startswith("arn:") else None


def _ssm_value(ref: str, account: str, region: str) -> tuple[str, str]:
    """(value, "") or ("", why) for an SSM valueFrom: a parameter ARN, or a name in the task's region."""
    from moto.ssm.models import ParameterDict, ssm_backends

    parts = _arn_parts(ref)
    if parts is not None and len(parts) >= 6 and parts[5].startswith("parameter"):
        region, account = parts[3] or region, parts[4] or account
        name = ":".join(parts[5:])[len("parameter"):]
    else:
        name = ref
    asked = name
    # A parameter "db" has the ARN …:parameter/db; "/a/b" has …:parameter/a/b (moto keys them the same way).
    name = ParameterDict.normalize_name(name)
    prefix = "unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
    try:
        param = ssm_backends[account][region].get_parameter(name)
    except Exception as exc:  # e.g. a version selector that does not exist
        return "", f"{prefix}{type(exc).__name__}: {exc}"
    if param is None:
        return "", f"{prefix}invalid ssm parameters: {asked}"
    value = param.decrypt(param.value) if param.parameter_type == "SecureString" else param.value
    return (value or ""), ""


def _secretsmanager_value(ref: str, account: str, region: str) -> tuple[str, str]:
    """(value, "") or ("", why) for `arn:…:secret:NAME[:json-key:version-stage:version-id]`."""
    import json

    from moto.secretsmanager.models import secretsmanager_backends

    parts = ref.split(":")
    secret_arn = ":".join(parts[:7])
    json_key, stage, version_id = (parts[7:10] + ["", "", ""])[:3]
    prefix = "unable to retrieve secret from asm: service call has been retried 1 time(s): "
    try:
        got = secretsmanager_backends[parts[4] or account][parts[3] or region].get_secret_value(
            secret_arn, version_id or None, stage or None
        )
    except Exception as exc:
        code = getattr(exc, "error_type", None) or type(exc).__name__
        message = getattr(exc, "message", None) or str(exc)
        return "", (
            f"{prefix}failed to fetch secret {secret_arn} from secrets manager: {code}: {message} "
            f"status code: 400, request id: {uuid.uuid4()}"
        )
    text = got.get("SecretString")
    if text is None:
        return "", f"{prefix}secret {secret_arn} has no SecretString (binary secrets cannot be environment variables)"
    if not json_key:
        return text, ""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return "", f"{prefix}{exc}"
    if not isinstance(doc, dict) or json_key not in doc:
        return "", f"{prefix}retrieved secret from Secrets Manager did not contain json key {json_key}"
    value = doc[json_key]
    return (value if isinstance(value, str) else json.dumps(value)), ""
