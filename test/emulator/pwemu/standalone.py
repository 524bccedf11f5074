"""Standalone tasks: RunTask / StopTask with real containers (moto's RunTask alone starts nothing).

ECS (API Reference RunTask, StopTask, DescribeTasks; Developer Guide "Amazon ECS task lifecycle",
"Amazon ECS stopped tasks errors"): a task started by RunTask goes PROVISIONING -> PENDING ->
RUNNING, runs its essential container with the task definition's settings and the request's
`overrides` (containerOverrides command / environment, task cpu / memory), and stops when the
essential container exits: `stopCode: EssentialContainerExited`, `stoppedReason: "Essential
container in task exited"`, `containers[].exitCode`. A task that cannot start (image not pullable,
secrets unreadable, a role IAM has not propagated, a missing awslogs group) stops with
`stopCode: TaskFailedToStart` and the error as `stoppedReason`. StopTask sends the container
SIGTERM, then SIGKILL after the stop timeout: `stopCode: UserInitiated`.

The checks are the world's own (world.py: images, secrets, roles; awslogs.py: the log group), so a
standalone task fails exactly as a service task does. Real containers need `runContainers` and an
image obtainable here (as service tasks); otherwise the task is simulated: RUNNING after
`rolloutSeconds / 2`, then its container "exits" 0 after as long again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from moto.core.utils import utcnow
from moto.ecs import models as ecs_models

from . import awslogs, docker
from .world import LOCK, PENDING, PROVISIONING, RUNNING, STOPPED, World, log

STOP_TIMEOUT_SECONDS = 2  # ECS default stopTimeout is 30 s; short here so tests do not wait


@dataclass
class OneOff:
    status: str = PROVISIONING
    container_id: str | None = None
    port: int | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    stop_reason: str = ""


class OneOffTask(ecs_models.Task):
    """A moto Task (from RunTask) whose status the emulator's runner drives."""

    _pw: OneOff

    @property
    def last_status(self) -> str:  # type: ignore[override]
        return self._pw.status

    @last_status.setter
    def last_status(self, value: str) -> None:
        pass  # moto's StopTask sets it; the runner stops the task instead

    def advance(self) -> None:
        pass


def _essential(td: Any) -> dict[str, Any]:
    containers = td.container_definitions or [{}]
    return next((c for c in containers if c.get("essential", True)), containers[0])


def container_spec(td: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The essential container as it runs: the definition with the request's container override applied."""
    c = _essential(td)
    over = next(
        (o for o in (overrides or {}).get("containerOverrides") or [] if o.get("name") == c.get("name")), {}
    )
    env = {e["name"]: str(e.get("value", "")) for e in c.get("environment") or [] if "name" in e}
    env.update({e["name"]: str(e.get("value", "")) for e in over.get("environment") or [] if "name" in e})
    return {
        "definition": c,
        "name": c.get("name", "app"),
        "image": c.get("image", ""),
        "env": env,
        "entryPoint": c.get("entryPoint"),
        "command": over["command"] if over.get("command") is not None else c.get("command"),
        "workingDirectory": c.get("workingDirectory"),
    }


def apply(world: World) -> None:
    Backend = ecs_models.EC2ContainerServiceBackend
    orig_requirements = Backend._calculate_task_resource_requirements

    def requirements(self: Any, task_definition: Any) -> Any:
        # moto sums container memory for EC2 placement and fails on a Fargate definition whose
        # containers leave memory to the task (ECS allows that); Fargate places no container instance.
        try:
            return orig_requirements(self, task_definition)
        except TypeError:
            return {"CPU": int(task_definition.cpu or 0), "MEMORY": int(task_definition.memory or 0), "PORTS": [],
                    "PORTS_UDP": []}

    Backend._calculate_task_resource_requirements = requirements
    orig_run_task = Backend.run_task

    def run_task(self: Any, cluster_str: str, task_definition_str: str, count: int, overrides: Any,
                 started_by: str, tags: Any, launch_type: Any, *args: Any, **kwargs: Any) -> Any:
        # awsvpcConfiguration.securityGroups is optional in ECS (the VPC's default group); moto needs it.
        args = list(args)
        if args:
            args[0] = World._task_network(args[0]) or args[0]
        elif kwargs.get("networking_configuration"):
            kwargs["networking_configuration"] = World._task_network(kwargs["networking_configuration"])
        with LOCK:
            tasks = orig_run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags,
                                  launch_type, *args, **kwargs)
            for task in tasks:
                if task.container_instance_arn:
                    continue  # EC2 placement: moto's own model
                task.__class__ = OneOffTask
                task._pw = OneOff()
                task.created_at = utcnow()
                for c in task.containers:
                    c.exitCode = None
                    c.last_status = PENDING
                td = self.describe_task_definition(task.task_definition_arn)
                threading.Thread(
                    target=_runner, args=(world, self, task, td, world.generation),
                    name=f"pwemu-run-{task.id[:8]}", daemon=True,
                ).start()
            return tasks

    Backend.run_task = run_task

    orig_stop_task = Backend.stop_task

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        with LOCK:
            task = orig_stop_task(self, cluster_str, task_str, reason)
            if isinstance(task, OneOffTask) and task._pw.status != STOPPED:
                task._pw.stop_reason = reason or "Task stopped by user"
                task.stopped_reason = ""  # set when it has stopped
                task._pw.stop_requested.set()
            return task

    Backend.stop_task = stop_task


def _runner(world: World, backend: Any, task: OneOffTask, td: Any, generation: int) -> None:
    try:
        _run(world, backend, task, td, generation)
    except Exception:  # noqa: BLE001
        import traceback

        log("standalone task runner failed:\n" + traceback.format_exc())
        with LOCK:
            if world.generation == generation:
                docker.remove_container(task._pw.container_id)
                _stopped(world, task, "CannotStartContainerError: emulator error (see moto log)", "TaskFailedToStart", None)


def _current(world: World, generation: int) -> bool:
    return world.generation == generation


def _stopped(world: World, task: OneOffTask, reason: str, code: str, exit_code: int | None) -> None:
    """Under LOCK: the task is STOPPED, its ENI lingers a while (as for service tasks)."""
    pw = task._pw
    if pw.status == STOPPED:
        return
    pw.status = STOPPED
    docker.release_port(pw.port)
    now = utcnow()
    task.desired_status = STOPPED
    task.stopped_reason = reason
    task.stop_code = code
    task.stopped_at = now
    task.stopping_at = getattr(task, "stopping_at", None) or now
    task.execution_stopped_at = now
    for c in task.containers:
        c.last_status = STOPPED
        c.exitCode = exit_code
        c.reason = reason if code == "TaskFailedToStart" else None
    try:
        from moto.ec2 import ec2_backends

        ec2 = ec2_backends[task._account_id][task.region_name]
        for att in task.attachments or []:
            for d in att.get("details", []):
                if d.get("name") == "networkInterfaceId" and d["value"] in ec2.enis:
                    linger = world.config["eniLingerSeconds"]
                    world.lingering_enis.append((time.monotonic() + linger, ec2, d["value"]))
    except Exception:  # noqa: BLE001
        pass


def _start_error(world: World, backend: Any, task: OneOffTask, td: Any, spec: dict[str, Any]) -> str:
    """Under LOCK: why ECS could not start this task, the world's rules in the order a task meets them."""
    from . import iamrules

    shim = SimpleNamespace(backend=backend, svc=SimpleNamespace(region_name=task.region_name))
    fresh = next((a for a in iamrules.task_definition_roles(td) if iamrules.fresh_role(world, backend.account_id, a)), None)
    if fresh:
        return iamrules.unassumable_role_message(fresh)
    net_error = world.egress_error(backend.account_id, task.region_name, getattr(task, "network_configuration", None),
                                   World._task_subnet(SimpleNamespace(moto_task=task)), list(td.container_definitions or []))
    if net_error:
        return net_error
    values, secret_error = world._resolve_secrets(shim, spec["definition"])
    if secret_error:
        return secret_error
    spec["env"].update(values)
    if world.config["checkImages"]:
        pull_error = world._pull_error(shim, spec["image"])
        if pull_error:
            return pull_error
    return ""


def _run(world: World, backend: Any, task: OneOffTask, td: Any, generation: int) -> None:
    pw = task._pw
    half = float(world.config["rolloutSeconds"]) / 2
    with LOCK:
        spec = container_spec(td, task.overrides)
        error = _start_error(world, backend, task, td, spec)
        if error:
            _stopped(world, task, error, "TaskFailedToStart", None)
            return
        pw.status = PENDING
        task.pull_started_at = utcnow()
        failing = world.image_failing(spec["image"])
        real = world.config["runContainers"] and not failing
        check_images = world.config["checkImages"]
    ok, why = (docker.obtain_image(spec["image"]) if docker.engine_available() else (False, "no Docker engine")) \
        if real else (False, "runContainers=false")
    with LOCK:
        if not _current(world, generation):
            return
        task.pull_stopped_at = utcnow()
        if real and not ok and check_images and docker.is_loopback_registry_ref(spec["image"]) and why != "no Docker engine":
            _stopped(world, task, f"CannotPullContainerError: failed to pull {spec['image']}: {why}", "TaskFailedToStart", None)
            return
        log_target, log_error = awslogs.prepare(backend.account_id, task.region_name, spec["definition"], task.id)
        if log_error and not world.config["checkLogGroups"]:
            log_error = ""  # the rule switched off: the task runs, its lines go nowhere
        if log_error:
            _stopped(world, task, log_error, "TaskFailedToStart", None)
            return
        if pw.stop_requested.is_set():
            _stopped(world, task, pw.stop_reason, "UserInitiated", None)
            return
        if not (real and ok):
            pw.status = RUNNING if not failing else pw.status
            task.started_at = utcnow()
    if not (real and ok):
        # Simulated: runs for `half`, then its container exits (1 for a failing image, else 0).
        if pw.stop_requested.wait(half if not failing else 0) or not _current(world, generation):
            with LOCK:
                if _current(world, generation):
                    _stopped(world, task, pw.stop_reason, "UserInitiated", None)
            return
        with LOCK:
            if _current(world, generation):
                pw.status = RUNNING
        pw.stop_requested.wait(half)
        with LOCK:
            if _current(world, generation):
                if pw.stop_requested.is_set():
                    _stopped(world, task, pw.stop_reason, "UserInitiated", None)
                else:
                    _stopped(world, task, "Essential container in task exited", "EssentialContainerExited", 1 if failing else 0)
        return

    pw.port = docker.alloc_port()
    cid, err = docker.start_container(
        name=f"pw-run-{task.id[:12]}",
        image=spec["image"],
        env={**spec["env"], "PORT": str(pw.port)},
        labels={
            "patchwork.emulator.port": str(world.moto_port),
            "patchwork.task": task.id,
            "patchwork.cluster": task.cluster_name,
        },
        entry_point=spec["entryPoint"],
        command=spec["command"],
        working_dir=spec["workingDirectory"],
    )
    with LOCK:
        if not _current(world, generation):
            docker.remove_container(cid)
            return
        if cid is None:
            _stopped(world, task, f"CannotStartContainerError: {err}", "TaskFailedToStart", None)
            return
        pw.container_id = cid
        pw.status = RUNNING
        task.started_at = utcnow()
        for c in task.containers:
            c.last_status = RUNNING
            c.runtime_id = cid
    shipper = awslogs.ship(log_target, cid)
    user_stop = False
    while True:
        if pw.stop_requested.wait(0.3):
            user_stop = True
            try:
                docker.run(["stop", "-t", str(STOP_TIMEOUT_SECONDS), cid], timeout=STOP_TIMEOUT_SECONDS + 30)
            except Exception:  # noqa: BLE001
                pass
        if not _current(world, generation):
            docker.remove_container(cid)
            return
        running, code = docker.container_state(cid)
        if not running:
            break
    if shipper is not None:
        shipper.close()  # every line is in CloudWatch Logs before the task reports STOPPED
    docker.remove_container(cid)
    with LOCK:
        if not _current(world, generation):
            return
        if user_stop:
            _stopped(world, task, pw.stop_reason, "UserInitiated", code)
        else:
            _stopped(world, task, "Essential container in task exited", "EssentialContainerExited", code)
