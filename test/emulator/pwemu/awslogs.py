"""The awslogs log driver: a container's stdout/stderr shipped into CloudWatch Logs (moto's backend).

ECS ("Using the awslogs log driver"): with `logConfiguration.logDriver: awslogs` the container's
output goes to the log group `awslogs-group` (region `awslogs-region`), one stream per container,
named `<awslogs-stream-prefix>/<container name>/<task id>`. The group must exist, else the task
fails to start (ResourceInitializationError), unless `awslogs-create-group` is "true" (and the
execution role may logs:CreateLogGroup).

Here a shipper thread follows `docker logs --follow --timestamps` of the container and puts the
lines into moto's logs backend in batches (every 0.2 s or 500 lines), keeping each line's timestamp.
"""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import datetime
from typing import Any

from . import docker

BATCH_SECONDS = 0.2
BATCH_LINES = 500


def options_of(container: dict[str, Any] | None) -> dict[str, str] | None:
    """The awslogs options of a container definition, or None when it does not use awslogs."""
    conf = (container or {}).get("logConfiguration") or {}
    if conf.get("logDriver") != "awslogs":
        return None
    return {str(k): str(v) for k, v in (conf.get("options") or {}).items()}


def stream_name(opts: dict[str, str], container_name: str, task_id: str, container_id: str = "") -> str:
    prefix = opts.get("awslogs-stream-prefix")
    # Without a prefix (allowed on EC2, not on Fargate) the driver names the stream after the container id.
    return f"{prefix}/{container_name}/{task_id}" if prefix else (container_id or task_id)


def _backend(account: str, region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account][region]


def prepare(account: str, default_region: str, container: dict[str, Any] | None, task_id: str) -> tuple[dict[str, str] | None, str]:
    """Before the container starts: check (or create) the group. Returns (target, error).

    target = {"region", "group", "stream"}; None when the container does not log to awslogs.
    """
    opts = options_of(container)
    if opts is None:
        return None, ""
    group = opts.get("awslogs-group", "")
    region = opts.get("awslogs-region") or default_region
    if not group:
        return None, "ResourceInitializationError: failed to validate logger args: awslogs-group is required"
    backend = _backend(account, region)
    if group not in backend.groups:
        if opts.get("awslogs-create-group", "").lower() == "true":
            backend.create_log_group(group, {})
        else:
            return None, (
                "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 "
                "times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log "
                f"group does not exist. (log group {group})"
            )
    name = stream_name(opts, (container or {}).get("name", ""), task_id)
    try:
        backend.create_log_stream(group, name)
    except Exception:  # noqa: BLE001 - it exists already (a restarted container)
        pass
    return {"account": account, "region": region, "group": group, "stream": name}, ""


def _millis(stamp: str) -> int:
    # docker: 2026-12-01T10:00:00.123456789Z (nanoseconds); Python takes microseconds.
    main, _, frac = stamp.rstrip("Z").partition(".")
    dt = datetime.fromisoformat(main + "+00:00")
    return int(dt.timestamp() * 1000) + int((frac + "000")[:3])


class Shipper:
    """Follows one container's output into one log stream until the container is gone."""

    def __init__(self, target: dict[str, str], container_id: str):
        self.target = target
        self.container_id = container_id
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._done = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._reader = threading.Thread(target=self._read, name=f"pwemu-awslogs-{container_id[:8]}", daemon=True)
        self._flusher = threading.Thread(target=self._flush_loop, name=f"pwemu-awslogs-f-{container_id[:8]}", daemon=True)
        self._reader.start()
        self._flusher.start()

    def _read(self) -> None:
        exe = docker.docker_bin()
        try:
            if not exe:
                return
            self._proc = subprocess.Popen(
                [exe, "logs", "--follow", "--timestamps", self.container_id],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # the driver ships both streams into the one log stream
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
            assert self._proc.stdout is not None
            for raw in self._proc.stdout:
                line = raw.rstrip("\n")
                stamp, _, message = line.partition(" ")
                try:
                    ts = _millis(stamp)
                except ValueError:
                    ts, message = int(time.time() * 1000), line
                if not message:
                    continue  # CloudWatch Logs refuses empty messages; the driver skips them
                with self._lock:
                    self._pending.append({"timestamp": ts, "message": message})
                    full = len(self._pending) >= BATCH_LINES
                if full:
                    self._flush()
        except Exception as exc:  # noqa: BLE001 - a broken shipper must not break the task
            print(f"[pwemu] awslogs shipper for {self.container_id[:12]}: {exc}", flush=True)
        finally:
            self._done.set()

    def _flush_loop(self) -> None:
        while not self._done.wait(BATCH_SECONDS):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        batch.sort(key=lambda e: e["timestamp"])  # PutLogEvents wants chronological order
        try:
            _backend(self.target["account"], self.target["region"]).put_log_events(
                self.target["group"], self.target["stream"], batch
            )
        except Exception as exc:  # noqa: BLE001 - the group deleted meanwhile: lines are lost, as on AWS
            print(f"[pwemu] awslogs put_log_events {self.target['group']}: {exc}", flush=True)

    def close(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until every line the container wrote is in CloudWatch Logs."""
        self._reader.join(timeout)
        if self._reader.is_alive() and self._proc is not None:
            self._proc.kill()
        self._flusher.join(timeout)


def ship(target: dict[str, str] | None, container_id: str | None) -> Shipper | None:
    if target is None or not container_id:
        return None
    return Shipper(target, container_id)


def prepare_service_task(world: Any, t: Any, spec: dict[str, Any]) -> tuple[dict[str, str] | None, str]:
    """prepare() for a service task's essential container (world.py's runner, under LOCK)."""
    st = t.st
    try:
        td = st.backend.describe_task_definition(t.task_definition_arn)
    except Exception:  # noqa: BLE001 - deregistered meanwhile: no logging, the task still runs
        return None, ""
    containers = td.container_definitions or [{}]
    name = spec.get("containerName")
    container = next((c for c in containers if c.get("name") == name), containers[0])
    target, error = prepare(st.backend.account_id, st.svc.region_name, container, t.id)
    if error and not world.config["checkLogGroups"]:
        return None, ""
    return target, error
