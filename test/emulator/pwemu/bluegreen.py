"""ECS's native deployment strategies (BLUE_GREEN, CANARY, LINEAR) and service deployments.

ECS Developer Guide pages (README "Blue/green, canary and linear deployments"):
  deployment-type-blue-green.html, blue-green-deployment-how-it-works.html, canary-deployment.html,
  linear-deployment.html, alb-resources-for-blue-green.html, deployment-lifecycle-hooks.html,
  pause-lifecycle-hooks.html, continue-service-deployment.html, stop-service-deployment.html,
  deployment-alarm-failure.html, service-deployment.html; API reference: CreateService,
  DeploymentConfiguration, CanaryConfiguration, LinearConfiguration, DeploymentLifecycleHook,
  AdvancedConfiguration, ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment,
  ContinueServiceDeployment.

A deployment of a service whose strategy is BLUE_GREEN/CANARY/LINEAR (and which has a completed
deployment to start from) walks the lifecycle stages

  [RECONCILE_SERVICE] PRE_SCALE_UP SCALE_UP POST_SCALE_UP TEST_TRAFFIC_SHIFT POST_TEST_TRAFFIC_SHIFT
  PRODUCTION_TRAFFIC_SHIFT POST_PRODUCTION_TRAFFIC_SHIFT BAKE_TIME CLEAN_UP

green tasks register in the "other" target group of the pair (primary/alternate), the test listener
rule forwards to green, the production listener rule's forward weights move (all at once / canary
percent then the rest / linear steps), blue tasks stay through the bake, then drain. Bake times are
minutes x `deploymentBakeScale` seconds. Alarms (deploymentConfiguration.alarms), the circuit
breaker, a PAUSE hook answered ROLLBACK (or timing out with ROLLBACK) and StopServiceDeployment
ROLLBACK restore the production and test rules to blue at once and stop green.

Every ECS deployment (ROLLING too) gets a service deployment record for List/DescribeServiceDeployments.
"""

from __future__ import annotations

import math
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.exceptions import ECSException, InvalidParameterException

STRATEGIES = ("BLUE_GREEN", "CANARY", "LINEAR")
STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
HOOK_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
TERMINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


class ServiceDeploymentNotFoundException(ECSException):
    def __init__(self, message: str = "Service deployment not found.") -> None:
        super().__init__("ServiceDeploymentNotFoundException", message)


class ConflictException(ECSException):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


def _rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass
class Lb:
    """One load balancer entry of a blue/green deployment: which target group is blue and which green."""

    primary: str  # loadBalancers[].targetGroupArn (the key the world's tasks are registered under)
    blue: str
    green: str
    production_rule: str
    test_rule: str | None


@dataclass
class SD:
    """A service deployment (ECS: one per deployment of the service)."""

    arn: str
    st: Any  # world.ServiceState
    dep_id: str
    task_definition: str
    revision_arn: str
    created: Any
    strategy: str
    config: dict[str, Any]
    status: str = "IN_PROGRESS"
    reason: str | None = None
    stage: str | None = None
    finished: Any = None
    stopped: Any = None
    source: list[tuple[str, str, str]] = field(default_factory=list)  # (dep id, td, revision arn)
    # blue/green only
    lbs: list[Lb] = field(default_factory=list)
    stage_since: float = 0.0
    hooks_done: set[tuple[int, str]] = field(default_factory=set)
    hook: dict[str, Any] | None = None  # the hook in progress (its detail as DescribeServiceDeployments shows it)
    hook_deadline: float = 0.0
    hook_meta: tuple[int, str] | None = None
    hook_history: list[dict[str, Any]] = field(default_factory=list)
    prod_weight: float = 0.0  # percent of production traffic on green
    test_weight: float = 0.0
    next_step_at: float = 0.0
    rollback: dict[str, Any] | None = None
    alarm_status: str = "DISABLED"
    triggered: list[str] = field(default_factory=list)
    breaker_status: str = "DISABLED"

    @property
    def bg(self) -> bool:
        return bool(self.lbs) or self.strategy in STRATEGIES and self.stage is not None


# ---------------------------------------------------------------------- validation (CreateService/UpdateService)
def _tenth(value: Any) -> bool:
    try:
        return abs(float(value) * 10 - round(float(value) * 10)) < 1e-6
    except (TypeError, ValueError):
        return False


def validate(world: Any, account: str, region: str, dcfg: dict[str, Any] | None, lbs: list[dict[str, Any]] | None,
             sent: dict[str, Any] | None = None) -> None:
    """AWS's rules for the deployment strategies; raises InvalidParameterException as ECS does.

    `dcfg` is the configuration the service will have; `sent` (UpdateService) what the request said.
    A request's canary/linear configuration must match the strategy, and hooks need a progressive one;
    members stored from an earlier strategy that the request leaves out are kept and ignored (a switch
    CANARY -> LINEAR need not clear canaryConfiguration: terraform-provider-aws switches so)."""
    if not world.config.get("checkDeploymentStrategies", True):
        return
    dcfg = dcfg or {}
    own = dcfg if sent is None else sent
    strategy = dcfg.get("strategy") or "ROLLING"
    bad = InvalidParameterException
    if own.get("canaryConfiguration") is not None and strategy != "CANARY":
        raise bad("canaryConfiguration is only valid when the deployment strategy is CANARY.")
    if own.get("linearConfiguration") is not None and strategy != "LINEAR":
        raise bad("linearConfiguration is only valid when the deployment strategy is LINEAR.")
    if strategy not in STRATEGIES:
        if own.get("lifecycleHooks"):
            raise bad("lifecycleHooks are only supported with the BLUE_GREEN, CANARY and LINEAR deployment strategies.")
        return
    bake = dcfg.get("bakeTimeInMinutes")
    if strategy == "BLUE_GREEN" and bake is None:
        raise bad("bakeTimeInMinutes must be provided when the deployment strategy is BLUE_GREEN.")
    if bake is not None and not (isinstance(bake, int) and 0 <= bake <= 1440):
        raise bad("bakeTimeInMinutes must be between 0 and 1440.")
    canary = (dcfg.get("canaryConfiguration") or {}) if strategy == "CANARY" else {}
    if "canaryPercent" in canary:
        p = canary["canaryPercent"]
        if not (_tenth(p) and 0.1 <= float(p) <= 100.0):
            raise bad("canaryPercent must be a multiple of 0.1 between 0.1 and 100.0.")
    if "canaryBakeTimeInMinutes" in canary and not (0 <= int(canary["canaryBakeTimeInMinutes"]) <= 1440):
        raise bad("canaryBakeTimeInMinutes must be between 0 and 1440.")
    linear = (dcfg.get("linearConfiguration") or {}) if strategy == "LINEAR" else {}
    if "stepPercent" in linear:
        p = linear["stepPercent"]
        if not (_tenth(p) and 3.0 <= float(p) <= 100.0):
            raise bad("stepPercent must be a multiple of 0.1 between 3.0 and 100.0.")
    if "stepBakeTimeInMinutes" in linear and not (0 <= int(linear["stepBakeTimeInMinutes"]) <= 1440):
        raise bad("stepBakeTimeInMinutes must be between 0 and 1440.")
    for hook in dcfg.get("lifecycleHooks") or []:
        kind = hook.get("targetType") or "AWS_LAMBDA"
        stages = hook.get("lifecycleStages") or []
        if not stages:
            raise bad("lifecycleStages must contain at least one lifecycle stage.")
        if kind == "AWS_LAMBDA" and not hook.get("hookTargetArn"):
            raise bad("hookTargetArn must be provided for an AWS_LAMBDA lifecycle hook.")
        if kind == "AWS_LAMBDA" and not hook.get("roleArn"):
            raise bad("roleArn must be provided for an AWS_LAMBDA lifecycle hook.")
        if kind == "PAUSE" and hook.get("hookTargetArn"):
            raise bad("hookTargetArn is not applicable to a PAUSE lifecycle hook.")
        timeout = (hook.get("timeoutConfiguration") or {}).get("timeoutInMinutes")
        if timeout is not None and not (1 <= int(timeout) <= 1440):
            raise bad("timeoutInMinutes must be between 1 and 1440.")
    from moto.elbv2.models import elbv2_backends
    from moto.iam.models import iam_backends

    elbv2 = elbv2_backends[account][region]
    for lb in lbs or []:
        adv = lb.get("advancedConfiguration")
        if not lb.get("targetGroupArn"):
            continue
        if not adv:
            raise bad(
                f"advancedConfiguration is required for load balancer target group {lb['targetGroupArn']} "
                f"with the {strategy} deployment strategy."
            )
        for key in ("alternateTargetGroupArn", "productionListenerRule", "roleArn"):
            if not adv.get(key):
                raise bad(f"advancedConfiguration.{key} must be provided with the {strategy} deployment strategy.")
        alt = adv["alternateTargetGroupArn"]
        if alt == lb["targetGroupArn"]:
            raise bad("The alternate target group must be different from the primary target group.")
        if alt not in elbv2.target_groups:
            raise bad(f"Unable to find target group {alt}.")
        for key in ("productionListenerRule", "testListenerRule"):
            arn = adv.get(key)
            if arn and find_rule(elbv2, arn) is None:
                raise bad(f"Unable to find listener rule {arn}.")
        try:
            iam_backends[account]["global"].get_role_by_arn(adv["roleArn"])
        except Exception:
            raise bad(f"Unable to assume role {adv['roleArn']}.") from None


def in_progress(world: Any, svc: Any) -> str | None:
    """The deployment of `svc` still in flight (an ECS deployment IN_PROGRESS, or a service deployment
    not finished), if any: ECS Developer Guide update-bluegreen-to-rolling / update-rolling-to-bluegreen
    ("wait for any current deployments to complete")."""
    for d in svc.deployments or []:
        if d.get("rolloutState") == "IN_PROGRESS" and d.get("status") == "PRIMARY":
            return d["id"]
    for sd in world.service_deployments.values():
        if sd.st.svc is svc and sd.lbs and sd.status in ("IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED"):
            return sd.arn
    return None


def find_rule(elbv2: Any, arn: str) -> tuple[Any, Any] | None:
    """(listener, rule) of a rule ARN (a listener's default rule too)."""
    for lb in elbv2.load_balancers.values():
        for listener in lb.listeners.values():
            for rule in listener.rules.values():
                if rule.arn == arn:
                    return listener, rule
    return None


# ---------------------------------------------------------------------- records
def _service_arn_parts(svc: Any) -> tuple[str, str, str, str]:
    parts = svc.arn.split(":")
    return parts[3], parts[4], svc.cluster_name, svc.name


def record(world: Any, st: Any, dep: dict[str, Any]) -> SD:
    """A service deployment for a new ECS deployment (every strategy)."""
    region, account, cluster, name = _service_arn_parts(st.svc)
    dcfg = dict(getattr(st.svc, "deployment_configuration", None) or {})
    world.revision_counter += 1
    sd = SD(
        arn=f"arn:aws:ecs:{region}:{account}:service-deployment/{cluster}/{name}/{_rand(22)}",
        st=st,
        dep_id=dep["id"],
        task_definition=dep["taskDefinition"],
        revision_arn=f"arn:aws:ecs:{region}:{account}:service-revision/{cluster}/{name}/{world.revision_counter:019d}",
        created=utcnow(),
        strategy=dcfg.get("strategy") or "ROLLING",
        config=dcfg,
    )
    # The source revision: the one the service last completed (blue).
    blue = sd_for(world, st, st.last_completed[0]) if st.last_completed else None
    if blue is not None:
        sd.source.append((blue.dep_id, blue.task_definition, blue.revision_arn))
    world.service_deployments[sd.arn] = sd
    st.svc.current_service_deployment = sd.arn
    return sd


def sd_for(world: Any, st: Any, dep_id: str) -> SD | None:
    return next((sd for sd in world.service_deployments.values() if sd.st is st and sd.dep_id == dep_id), None)


def active_bg(world: Any, st: Any, dep: dict[str, Any]) -> SD | None:
    sd = sd_for(world, st, dep["id"])
    if sd is not None and sd.lbs and sd.status in ("IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED"):
        return sd
    return None


def begin(world: Any, st: Any, dep: dict[str, Any], now: float) -> None:
    """A new deployment of a BLUE_GREEN/CANARY/LINEAR service: set up blue and green (or leave it rolling
    when there is nothing to shift from: the service's first deployment, or no load balancer)."""
    sd = sd_for(world, st, dep["id"])
    if sd is None or sd.strategy not in STRATEGIES:
        return
    # A blue/green deployment still in flight is superseded: its traffic goes back to blue, green stops.
    for other in list(world.service_deployments.values()):
        if other.st is st and other is not sd and other.lbs and other.status == "IN_PROGRESS":
            _restore(world, other, now, status="STOPPED", reason="Service deployment stopped: superseded by a new deployment.",
                     superseded=True)
    if not st.last_completed or not st.svc.load_balancers:
        sd.reason = "No service revision to shift traffic from: tasks are replaced as in a rolling update."
        return
    if st.strategy_switch:
        # update-rolling-to-bluegreen: the UpdateService that adds advancedConfiguration "starts a rolling
        # deployment"; the strategy applies from the next deployment on.
        sd.reason = "The deployment strategy changed in this update: tasks are replaced as in a rolling update."
        return
    blue_id = st.last_completed[0]
    blue_map = st.tg_map.get(blue_id, {})
    lbs = []
    for lb in st.svc.load_balancers or []:
        adv = lb.get("advancedConfiguration") or {}
        primary = lb.get("targetGroupArn")
        if not primary or not adv.get("alternateTargetGroupArn") or not adv.get("productionListenerRule"):
            continue
        blue = blue_map.get(primary, primary)
        green = adv["alternateTargetGroupArn"] if blue == primary else primary
        lbs.append(Lb(primary, blue, green, adv["productionListenerRule"], adv.get("testListenerRule")))
    if not lbs:
        return
    sd.lbs = lbs
    st.tg_map[dep["id"]] = {lb.primary: lb.green for lb in lbs}
    others = [d for d in st.svc.deployments if d["id"] not in (dep["id"], blue_id)]
    sd.stage = "RECONCILE_SERVICE" if others else "PRE_SCALE_UP"
    sd.stage_since = now
    alarms = sd.config.get("alarms") or {}
    sd.alarm_status = "MONITORING" if alarms.get("enable") and alarms.get("alarmNames") else "DISABLED"
    breaker = sd.config.get("deploymentCircuitBreaker") or {}
    sd.breaker_status = "MONITORING" if breaker.get("enable") else "DISABLED"
    world._event(st, f"(service-deployment {sd.arn}) {sd.strategy} deployment started: green tasks go to {lbs[0].green}.")


# ---------------------------------------------------------------------- traffic
def _weights(pct: float) -> tuple[int, int]:
    """(green, blue) forward weights for `pct` percent on green (ALB weights are 0..999)."""
    if abs(pct - round(pct)) < 1e-9:
        g = int(round(pct))
        return g, 100 - g
    g = int(round(pct * 10))
    return min(g, 999), min(1000 - g, 999)


def _point(world: Any, sd: SD, rule_key: str, pct: float) -> None:
    from moto.elbv2.models import FakeAction, elbv2_backends

    elbv2 = elbv2_backends[sd.st.backend.account_id][sd.st.svc.region_name]
    for lb in sd.lbs:
        arn = lb.production_rule if rule_key == "production" else lb.test_rule
        if not arn:
            continue
        found = find_rule(elbv2, arn)
        if found is None:
            world._event(sd.st, f"(service-deployment {sd.arn}) listener rule {arn} no longer exists.")
            continue
        listener, rule = found
        g, b = _weights(pct)
        action = FakeAction(
            {
                "Type": "forward",
                "Order": 1,
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": lb.blue, "Weight": b}, {"TargetGroupArn": lb.green, "Weight": g}],
                },
            }
        )
        rule.actions = [action]
        if rule.is_default:
            listener.default_actions = [action]
    if rule_key == "production":
        sd.prod_weight = pct
    else:
        sd.test_weight = pct


# ---------------------------------------------------------------------- the lifecycle
def _scale(world: Any) -> float:
    return float(world.config.get("deploymentBakeScale", 1.0))


def _hooks_for(sd: SD, stage: str) -> list[tuple[int, dict[str, Any]]]:
    return [(i, h) for i, h in enumerate(sd.config.get("lifecycleHooks") or []) if stage in (h.get("lifecycleStages") or [])]


def _run_hooks(world: Any, sd: SD, stage: str, now: float) -> bool:
    """Start the next hook of `stage`; True when every hook of the stage has finished (succeeded)."""
    if sd.hook is not None:
        return False
    for i, h in _hooks_for(sd, stage):
        if (i, stage) in sd.hooks_done:
            continue
        kind = h.get("targetType") or "AWS_LAMBDA"
        timeout = (h.get("timeoutConfiguration") or {})
        minutes = float(timeout.get("timeoutInMinutes") or 1440)
        action = timeout.get("action") or "ROLLBACK"
        detail = {
            "hookId": f"ecs-{'pause' if kind == 'PAUSE' else 'lambda'}-{_rand(43, string.ascii_letters + string.digits + '_-')}",
            "targetType": kind,
            "status": "AWAITING_ACTION" if kind == "PAUSE" else "IN_PROGRESS",
            "expiresAt": utcnow() + _td(minutes * _scale(world)),
            "timeoutAction": action,
        }
        if kind != "PAUSE":
            detail["targetArn"] = h.get("hookTargetArn")
        sd.hook, sd.hook_meta, sd.hook_deadline = detail, (i, stage), now + minutes * _scale(world)
        sd.hook_history.append(detail)
        world._event(sd.st, f"(service-deployment {sd.arn}) lifecycle hook {detail['hookId']} ({kind}) at {stage}.")
        if kind != "PAUSE":
            # The emulator runs no Lambda functions: an AWS_LAMBDA hook fails (README), which rolls back.
            _finish_hook(world, sd, "FAILED", now, "ROLLBACK", "the emulator does not invoke Lambda functions")
        return False
    return True


def _td(seconds: float) -> Any:
    import datetime

    return datetime.timedelta(seconds=seconds)


def _finish_hook(world: Any, sd: SD, status: str, now: float, then: str, why: str = "") -> None:
    assert sd.hook is not None and sd.hook_meta is not None
    sd.hook["status"] = status
    sd.hooks_done.add(sd.hook_meta)
    hook_id = sd.hook["hookId"]
    sd.hook, sd.hook_meta = None, None
    if then == "ROLLBACK":
        _restore(world, sd, now, reason=f"Lifecycle hook {hook_id} {status.lower()}{': ' + why if why else ''}: rolling back.")


def continue_deployment(world: Any, sd: SD, hook_id: str, action: str, now: float) -> None:
    if sd.status != "IN_PROGRESS" or sd.hook is None or sd.hook["hookId"] != hook_id:
        raise InvalidParameterException(f"The lifecycle hook {hook_id} is not awaiting action in service deployment {sd.arn}.")
    if sd.hook["status"] != "AWAITING_ACTION":
        raise InvalidParameterException(f"The lifecycle hook {hook_id} is not in AWAITING_ACTION status.")
    _finish_hook(world, sd, "SUCCEEDED" if action == "CONTINUE" else "FAILED", now, action, "ContinueServiceDeployment")


def stop_deployment(world: Any, sd: SD, stop_type: str, now: float) -> None:
    if sd.status in TERMINAL:
        raise ConflictException(f"The service deployment {sd.arn} is {sd.status} and cannot be stopped.")
    if stop_type != "ROLLBACK":
        raise InvalidParameterException("The only supported stopType is ROLLBACK.")
    if sd.lbs:
        if sd.status == "IN_PROGRESS":
            sd.status = "ROLLBACK_REQUESTED"
            _restore(world, sd, now, reason="Service deployment rolled back because of a StopServiceDeployment request.")
        return
    dep = next((d for d in sd.st.svc.deployments if d["id"] == sd.dep_id), None)
    if dep is None or dep.get("rolloutState") != "IN_PROGRESS":
        raise ConflictException(f"The service deployment {sd.arn} is not in progress.")
    sd.status = "ROLLBACK_IN_PROGRESS"
    sd.rollback = {"reason": "Service deployment rolled back because of a StopServiceDeployment request.", "startedAt": utcnow()}
    world._fail_deployment(sd.st, dep, True, now, reason="Service deployment rolled back because of a StopServiceDeployment request.")


def _restore(world: Any, sd: SD, now: float, *, reason: str, status: str = "ROLLBACK_IN_PROGRESS",
             superseded: bool = False) -> None:
    """Roll back: production and test rules to blue at once, green tasks stop, blue is PRIMARY again
    (`superseded`: a newer deployment is PRIMARY already and starts from blue; the list is left to it)."""
    st = sd.st
    _point(world, sd, "production", 0.0)
    if any(lb.test_rule for lb in sd.lbs):
        _point(world, sd, "test", 0.0)
    if sd.hook is not None:
        sd.hook["status"] = "FAILED"
        sd.hook, sd.hook_meta = None, None
    rollback_target = st.last_completed
    sd.status = status
    sd.reason = reason
    if status == "ROLLBACK_IN_PROGRESS":
        sd.rollback = {
            "reason": reason,
            "startedAt": utcnow(),
            "serviceRevisionArn": next((r for d, _, r in sd.source if rollback_target and d == rollback_target[0]), None),
        }
    else:
        sd.stopped = utcnow()
    # Green's targets are deregistered now (no new request reaches them) and its tasks stop after the
    # deregistration delay, as at CLEAN_UP: requests already sent to green finish (ECS task lifecycle:
    # DEACTIVATING deregisters from the target groups before STOPPING; ELB lets in-flight requests end).
    for t in st.live_tasks():
        if t.deployment_id == sd.dep_id and t.desired == "RUNNING":
            world._drain(st, t, f"Scaling activity initiated by (service-deployment {sd.arn}): rollback", now,
                         world.config["rolloutSeconds"] / 2)
    if superseded:
        world._event(st, f"(service-deployment {sd.arn}) {reason}")
        return
    deps = st.svc.deployments or []
    green = next((d for d in deps if d["id"] == sd.dep_id), None)
    blue = next((d for d in deps if rollback_target and d["id"] == rollback_target[0]), None)
    if green is not None:
        green = {**green, "status": "ACTIVE", "rolloutState": "FAILED", "rolloutStateReason": reason, "updatedAt": utcnow()}
    if blue is not None:
        blue = {
            **blue,
            "status": "PRIMARY",
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {blue['id']} completed (rolled back to).",
            "updatedAt": utcnow(),
        }
        st.svc.task_definition = blue["taskDefinition"]
    rest = [d for d in deps if d["id"] not in (sd.dep_id, blue["id"] if blue else None)]
    st.svc.deployments = [d for d in (blue, green) if d is not None] + rest
    st.steady = False
    world._event(st, f"(service-deployment {sd.arn}) {reason}")


def _alarm_in_alarm(sd: SD) -> list[str]:
    alarms = sd.config.get("alarms") or {}
    if not alarms.get("enable"):
        return []
    from moto.cloudwatch.models import cloudwatch_backends

    cw = cloudwatch_backends[sd.st.backend.account_id][sd.st.svc.region_name]
    return [n for n in alarms.get("alarmNames") or [] if getattr(cw.alarms.get(n), "state_value", None) == "ALARM"]


def _fail(world: Any, sd: SD, now: float, reason: str, rollback: bool) -> None:
    if rollback:
        _restore(world, sd, now, reason=reason)
    else:
        _restore(world, sd, now, reason=reason, status="STOPPED")


def settle(world: Any, st: Any) -> None:
    """Rollbacks of `st` whose green tasks have all stopped are ROLLBACK_SUCCESSFUL."""
    for sd in world.service_deployments.values():
        if sd.st is st and sd.lbs and sd.status in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED"):
            if not any(t.deployment_id == sd.dep_id for t in st.live_tasks()):
                sd.status = "ROLLBACK_SUCCESSFUL"
                sd.finished = utcnow()
                world._event(st, f"(service-deployment {sd.arn}) rollback completed.")
    drop_drained(world, st)


def drop_drained(world: Any, st: Any) -> None:
    """Old deployments whose tasks have all stopped leave the service's `deployments` (ECS API Reference,
    Deployment.status: ACTIVE "still has running tasks", INACTIVE "completely replaced"; DescribeServices
    lists only PRIMARY and ACTIVE ones). The history stays in the service deployments. Only once the
    PRIMARY is COMPLETED (after a rollback to blue; a rolling completion has removed the others already), and not
    while a blue/green deployment is in flight: its blue deployment is the rollback target."""
    deps = st.svc.deployments or []
    if not deps or deps[0]["status"] != "PRIMARY" or deps[0].get("rolloutState") != "COMPLETED":
        return
    if any(sd.st is st and sd.lbs and sd.status in ("IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED")
           for sd in world.service_deployments.values()):
        return
    live = {t.deployment_id for t in st.live_tasks()}
    kept = [d for d in deps if d["status"] == "PRIMARY" or d["id"] in live]
    if len(kept) != len(deps):
        st.svc.deployments = kept


def tick(world: Any, sd: SD, now: float) -> None:
    """One step of a blue/green/canary/linear deployment (called by World._tick_service under LOCK)."""
    st = sd.st
    mine = [t for t in st.live_tasks() if t.deployment_id == sd.dep_id]
    if sd.status in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED"):
        if not mine:
            sd.status = "ROLLBACK_SUCCESSFUL"
            sd.finished = utcnow()
            world._event(st, f"(service-deployment {sd.arn}) rollback completed.")
        return
    if sd.status != "IN_PROGRESS":
        return
    desired = int(st.svc.desired_count or 0)
    # Rollback monitors: alarms through the bake, the circuit breaker while green scales up.
    fired = _alarm_in_alarm(sd)
    if fired:
        sd.alarm_status, sd.triggered = "TRIGGERED", fired
        alarms = sd.config.get("alarms") or {}
        _fail(world, sd, now, f"Deployment alarm(s) {', '.join(fired)} in ALARM: "
              + ("rolling back." if alarms.get("rollback") else "deployment stopped."), bool(alarms.get("rollback")))
        return
    breaker = sd.config.get("deploymentCircuitBreaker") or {}
    meta = st.meta.get(sd.dep_id)
    if breaker.get("enable") and meta is not None and meta.breaker_failures >= world.breaker_threshold(desired):
        sd.breaker_status = "TRIGGERED"
        _fail(world, sd, now, "ECS deployment circuit breaker: tasks failed to start.", bool(breaker.get("rollback")))
        return
    if sd.hook is not None:
        if now >= sd.hook_deadline:
            _finish_hook(world, sd, "TIMED_OUT", now, sd.hook.get("timeoutAction") or "ROLLBACK")
        return
    stage = sd.stage or "PRE_SCALE_UP"
    scale = _scale(world)
    done = True
    if stage == "PRODUCTION_TRAFFIC_SHIFT" and not _run_hooks(world, sd, "PRE_PRODUCTION_TRAFFIC_SHIFT", now):
        return
    if stage == "SCALE_UP":
        wanted = [t for t in mine if t.desired == "RUNNING"]
        if len(wanted) < desired and meta is not None and now >= meta.next_launch_at:
            for _ in range(desired - len(wanted)):
                t = world._launch(st, next(d for d in st.svc.deployments if d["id"] == sd.dep_id), now)
                if t is not None:
                    wanted.append(t)
        done = len(wanted) == desired and all(t.status == "RUNNING" and t.healthy for t in wanted)
    elif stage == "TEST_TRAFFIC_SHIFT":
        if any(lb.test_rule for lb in sd.lbs):
            _point(world, sd, "test", 100.0)
    elif stage == "PRODUCTION_TRAFFIC_SHIFT":
        if sd.strategy == "BLUE_GREEN":
            _point(world, sd, "production", 100.0)
        elif now >= sd.next_step_at:
            if sd.strategy == "CANARY":
                canary = sd.config.get("canaryConfiguration") or {}
                first = float(canary.get("canaryPercent", 5.0))
                nxt = first if sd.prod_weight == 0 else 100.0
                bake = float(canary.get("canaryBakeTimeInMinutes", 10))
            else:
                linear = sd.config.get("linearConfiguration") or {}
                step = float(linear.get("stepPercent", 10.0))
                nxt = min(100.0, round(sd.prod_weight + step, 1))
                bake = float(linear.get("stepBakeTimeInMinutes", 6))
            _point(world, sd, "production", nxt)
            world._event(st, f"(service-deployment {sd.arn}) production traffic on the new revision: {nxt:g}%.")
            sd.next_step_at = now + bake * scale
        done = sd.prod_weight >= 100.0
    elif stage == "BAKE_TIME":
        done = now >= sd.stage_since + float(sd.config.get("bakeTimeInMinutes") or 0) * scale
    elif stage == "CLEAN_UP":
        for t in st.live_tasks():
            if t.deployment_id != sd.dep_id and t.desired == "RUNNING":
                world._drain(st, t, f"Scaling activity initiated by (service-deployment {sd.arn})", now,
                             world.config["rolloutSeconds"] / 2)
        done = not any(t.deployment_id != sd.dep_id for t in st.live_tasks())
    if not done or not _run_hooks(world, sd, stage, now):
        return
    if stage == "CLEAN_UP":
        _complete(world, sd)
        return
    sd.stage = STAGES[STAGES.index(stage) + 1]
    sd.stage_since = now
    world._event(st, f"(service-deployment {sd.arn}) lifecycle stage {sd.stage}.")


def _complete(world: Any, sd: SD) -> None:
    st = sd.st
    sd.status = "SUCCESSFUL"
    sd.finished = utcnow()
    if sd.alarm_status == "MONITORING":
        sd.alarm_status = "MONITORING_COMPLETE"
    if sd.breaker_status == "MONITORING":
        sd.breaker_status = "MONITORING_COMPLETE"
    dep = next(d for d in st.svc.deployments if d["id"] == sd.dep_id)
    world._replace_deployment(st, dep["id"], rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {dep['id']} completed.")
    st.svc.deployments = [d for d in st.svc.deployments if d["id"] == dep["id"]]
    st.last_completed = (dep["id"], dep["taskDefinition"])
    world._event(st, f"(deployment {dep['id']}) deployment completed.")
    world._event(st, "has reached a steady state.")
    st.steady = True


# ---------------------------------------------------------------------- API views
def rolling_status(sd: SD) -> None:
    """A ROLLING service deployment's status follows its ECS deployment's rolloutState."""
    if sd.lbs or sd.status in TERMINAL:
        return
    dep = next((d for d in sd.st.svc.deployments or [] if d["id"] == sd.dep_id), None)
    if dep is None:
        if sd.status in ("IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
            sd.status = "STOPPED" if sd.status == "IN_PROGRESS" else "ROLLBACK_SUCCESSFUL"
            sd.finished = sd.finished or utcnow()
        return
    state = dep.get("rolloutState")
    if state == "COMPLETED" and sd.status == "IN_PROGRESS":
        sd.status, sd.finished = "SUCCESSFUL", utcnow()
    elif state == "FAILED" and sd.status == "IN_PROGRESS":
        breaker = sd.config.get("deploymentCircuitBreaker") or {}
        sd.status = "ROLLBACK_IN_PROGRESS" if breaker.get("rollback") else "STOPPED"
        sd.reason = dep.get("rolloutStateReason")
        if sd.status == "STOPPED":
            sd.stopped = utcnow()
        else:
            sd.rollback = {"reason": sd.reason, "startedAt": utcnow()}
    if sd.status == "ROLLBACK_IN_PROGRESS":
        newer = [d for d in sd.st.svc.deployments if d["status"] == "PRIMARY" and d["id"] != sd.dep_id]
        if newer and newer[0].get("rolloutState") == "COMPLETED":
            sd.status, sd.finished = "ROLLBACK_SUCCESSFUL", utcnow()


def _counts(st: Any, dep_id: str) -> tuple[int, int, int]:
    ts = [t for t in st.live_tasks() if t.deployment_id == dep_id]
    dep = next((d for d in st.svc.deployments or [] if d["id"] == dep_id), {})
    return (
        int(dep.get("desiredCount", 0) or 0),
        sum(1 for t in ts if t.status == "RUNNING"),
        sum(1 for t in ts if t.status in ("PROVISIONING", "PENDING")),
    )


def brief(sd: SD) -> dict[str, Any]:
    rolling_status(sd)
    svc = sd.st.svc
    out = {
        "serviceDeploymentArn": sd.arn,
        "serviceArn": svc.arn,
        "clusterArn": svc.arn.replace(f":service/{svc.cluster_name}/{svc.name}", f":cluster/{svc.cluster_name}"),
        "createdAt": sd.created,
        "startedAt": sd.created,
        "targetServiceRevisionArn": sd.revision_arn,
        "status": sd.status,
    }
    if sd.finished:
        out["finishedAt"] = sd.finished
    if sd.reason:
        out["statusReason"] = sd.reason
    return out


def describe(sd: SD) -> dict[str, Any]:
    out = brief(sd)
    st = sd.st
    requested, running, pending = _counts(st, sd.dep_id)
    target: dict[str, Any] = {"arn": sd.revision_arn, "requestedTaskCount": requested, "runningTaskCount": running,
                              "pendingTaskCount": pending}
    if sd.lbs:
        target["requestedProductionTrafficWeight"] = sd.prod_weight
        target["requestedTestTrafficWeight"] = sd.test_weight
    sources = []
    for dep_id, _, rev in sd.source:
        r, n, p = _counts(st, dep_id)
        src: dict[str, Any] = {"arn": rev, "requestedTaskCount": r, "runningTaskCount": n, "pendingTaskCount": p}
        if sd.lbs:
            src["requestedProductionTrafficWeight"] = round(100.0 - sd.prod_weight, 1)
            src["requestedTestTrafficWeight"] = round(100.0 - sd.test_weight, 1)
        sources.append(src)
    out.update(
        {
            "updatedAt": utcnow(),
            "sourceServiceRevisions": sources,
            "targetServiceRevision": target,
            "deploymentConfiguration": sd.config,
        }
    )
    if sd.stage:
        out["lifecycleStage"] = sd.stage
    if sd.hook_history:
        out["lifecycleHookDetails"] = [dict(h) for h in sd.hook_history]
    if sd.stopped:
        out["stoppedAt"] = sd.stopped
    if sd.rollback:
        out["rollback"] = {k: v for k, v in sd.rollback.items() if v is not None}
    breaker = sd.config.get("deploymentCircuitBreaker") or {}
    meta = st.meta.get(sd.dep_id)
    out["deploymentCircuitBreaker"] = {
        "status": sd.breaker_status if sd.lbs else ("MONITORING" if breaker.get("enable") else "DISABLED"),
        "failureCount": meta.breaker_failures if meta else 0,
        "threshold": _threshold(st),
    }
    alarms = sd.config.get("alarms") or {}
    out["alarms"] = {"status": sd.alarm_status if sd.lbs else ("MONITORING" if alarms.get("enable") else "DISABLED"),
                     "alarmNames": list(alarms.get("alarmNames") or [])}
    if sd.triggered:
        out["alarms"]["triggeredAlarmNames"] = list(sd.triggered)
    return out


def _threshold(st: Any) -> int:
    desired = int(st.svc.desired_count or 0)
    return min(200, max(3, math.ceil(0.5 * desired)))


def monotonic() -> float:
    return time.monotonic()


# ---------------------------------------------------------------------- moto patches
def apply(world: Any) -> None:
    """Validate the strategies on CreateService/UpdateService; List/Describe/Stop/ContinueServiceDeployment(s)."""
    from moto.core.responses import ActionResult
    from moto.ecs import models as ecs_models
    from moto.ecs import responses as ecs_responses
    from moto.ecs.exceptions import ServiceNotFoundException

    from .patches import _merge_deployment_configuration
    from .world import LOCK

    Response = ecs_responses.EC2ContainerServiceResponse
    Backend = ecs_models.EC2ContainerServiceBackend

    orig_create = Response.create_service

    def create_service(self: Any) -> Any:
        backend = self.ecs_backend
        validate(world, backend.account_id, backend.region_name, self._get_param("deploymentConfiguration"),
                 self._get_param("loadBalancers"))
        return orig_create(self)

    Response.create_service = create_service

    orig_update = Backend.update_service

    def update_service(self: Any, props: dict[str, Any]) -> Any:
        with LOCK:
            svc = self._get_service(props.get("cluster", "default"), (props.get("service") or "").split("/")[-1])
            stored = getattr(svc, "deployment_configuration", None)
            sent = props.get("deployment_configuration")
            dcfg = _merge_deployment_configuration(stored, sent,
                                                   bool(world.config.get("replaceDeploymentConfigurationMembers", True)))
            lbs = props.get("load_balancers") if props.get("load_balancers") is not None else svc.load_balancers
            validate(world, self.account_id, self.region_name, dcfg, lbs, sent or {})
            before = (stored or {}).get("strategy") or "ROLLING"
            after = dcfg.get("strategy") or "ROLLING"
            if before != after and world.config.get("checkStrategyChangeInProgress", True):
                busy = in_progress(world, svc)
                if busy:
                    raise InvalidParameterException(
                        f"The deployment strategy of service {svc.name} cannot change from {before} to {after} while "
                        f"a deployment is in progress ({busy}): wait for it to complete."
                    )
            return orig_update(self, props)

    Backend.update_service = update_service

    def _find(arn: str) -> SD:
        sd = world.service_deployments.get(arn)
        if sd is None:
            raise ServiceDeploymentNotFoundException(f"Service deployment {arn} not found.")
        return sd

    def list_service_deployments(self: Any) -> Any:
        with LOCK:
            backend = self.ecs_backend
            cluster = self._get_param("cluster", "default")
            name = (self._get_param("service") or "").split("/")[-1]
            cluster_name = cluster.split("/")[-1]
            svc = backend.services.get(f"{cluster_name}:{name}")
            if svc is None:
                raise ServiceNotFoundException()
            statuses = self._get_param("status") or []
            created = self._get_param("createdAt") or {}
            max_results = int(self._get_param("maxResults") or 20)
            if not 1 <= max_results <= 100:
                raise InvalidParameterException("maxResults must be between 1 and 100.")
            found = [sd for sd in world.service_deployments.values() if sd.st.svc is svc]
            found.sort(key=lambda sd: sd.created, reverse=True)
            briefs = [brief(sd) for sd in found]
            briefs = [b for b in briefs if not statuses or b["status"] in statuses]
            if created.get("after"):
                briefs = [b for b in briefs if b["createdAt"].timestamp() >= _ts(created["after"])]
            if created.get("before"):
                briefs = [b for b in briefs if b["createdAt"].timestamp() <= _ts(created["before"])]
            start = int(self._get_param("nextToken") or 0)
            page = briefs[start:start + max_results]
            result: dict[str, Any] = {"serviceDeployments": page}
            if start + max_results < len(briefs):
                result["nextToken"] = str(start + max_results)
            return ActionResult(result)

    def describe_service_deployments(self: Any) -> Any:
        with LOCK:
            arns = self._get_param("serviceDeploymentArns") or []
            found, failures = [], []
            for arn in arns:
                sd = world.service_deployments.get(arn)
                if sd is None:
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    found.append(describe(sd))
            return ActionResult({"serviceDeployments": found, "failures": failures})

    def stop_service_deployment(self: Any) -> Any:
        with LOCK:
            sd = _find(self._get_param("serviceDeploymentArn"))
            stop_deployment(world, sd, self._get_param("stopType") or "ROLLBACK", time.monotonic())
            return ActionResult({"serviceDeploymentArn": sd.arn})

    def continue_service_deployment(self: Any) -> Any:
        with LOCK:
            sd = _find(self._get_param("serviceDeploymentArn"))
            action = self._get_param("action") or "CONTINUE"
            continue_deployment(world, sd, self._get_param("hookId") or "", action, time.monotonic())
            return ActionResult({"serviceDeploymentArn": sd.arn})

    Response.list_service_deployments = list_service_deployments
    Response.describe_service_deployments = describe_service_deployments
    Response.stop_service_deployment = stop_service_deployment
    Response.continue_service_deployment = continue_service_deployment


def _ts(value: Any) -> float:
    import datetime

    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
