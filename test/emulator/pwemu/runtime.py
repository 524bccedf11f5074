"""How Fargate runs a task definition's containers, as `docker run` options and checks (pure).

Each rule names its AWS source in test/emulator/README.md ("The Fargate task runtime"):
- `user` -> `--user`; `readonlyRootFilesystem` -> `--read-only`; `mountPoints` of the task's
  host-less (bind / ephemeral) `volumes` -> a fresh volume at the path, seeded from the image
  (a path the image lacks is root-owned 0755, as Fargate's bind mounts are);
- task `cpu`/`memory` (the task's hard cap) -> `--cpus`/`--memory`; container `cpu` ->
  `--cpu-shares`, container `memory`/`memoryReservation` -> `--memory`/`--memory-reservation`;
  `ulimits` -> `--ulimit`; `workingDirectory`, `entryPoint`, `command`, `environment`;
- a non-root container cannot bind a `containerPort` below 1024;
- `runtimePlatform.cpuArchitecture` must match the image's architecture (exec format error).
"""

from __future__ import annotations

from typing import Any

ROOT_USERS = {"", "root", "0"}

# ECS cpuArchitecture -> the image config's architecture (OCI image spec / Go GOARCH names).
ARCH = {"X86_64": "amd64", "ARM64": "arm64"}


def is_root(user: str | None) -> bool:
    """`user` is root: empty (the image default when it has none), root or uid 0, with any group."""
    name = (user or "").strip().split(":", 1)[0]
    return name in ROOT_USERS


def effective_user(container: dict[str, Any], image_user: str | None) -> str:
    """Who the container runs as: the container definition's `user`, else the image's USER."""
    return (container.get("user") or image_user or "").strip()


def task_architecture(td: Any) -> str:
    """The task definition's cpuArchitecture (X86_64 when runtimePlatform does not say)."""
    rp = getattr(td, "runtime_platform", None) or {}
    return str(rp.get("cpuArchitecture") or "X86_64")


def arch_mismatch(td: Any, image_arch: str | None) -> str | None:
    """The image's architecture when it cannot run on the task's platform, else None."""
    want = ARCH.get(task_architecture(td))
    if not want or not image_arch:
        return None
    return image_arch if image_arch != want else None


def privileged_port(container: dict[str, Any], user: str) -> int | None:
    """The first containerPort below 1024 a non-root `user` would have to bind, else None."""
    if is_root(user):
        return None
    for pm in container.get("portMappings") or []:
        try:
            port = int(pm.get("containerPort") or 0)
        except (TypeError, ValueError):
            continue
        if 0 < port < 1024:
            return port
    return None


def _num(v: Any) -> float | None:
    try:
        n = float(v)
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def docker_options(td: Any, container: dict[str, Any]) -> list[str]:
    """The `docker run` options (before the image) that apply `container` of task definition `td`."""
    args: list[str] = ["--no-healthcheck"]  # ECS runs the container definition's healthCheck, not the image's
    if container.get("user"):
        args += ["--user", str(container["user"])]
    if container.get("readonlyRootFilesystem"):
        args.append("--read-only")
    volumes = {v.get("name"): v for v in (getattr(td, "volumes", None) or []) if v.get("name")}
    for mp in container.get("mountPoints") or []:
        vol = volumes.get(mp.get("sourceVolume"))
        path = mp.get("containerPath")
        if vol is None or not path:
            continue  # RegisterTaskDefinition would have refused; nothing to mount
        if (vol.get("host") or {}).get("sourcePath") or vol.get("efsVolumeConfiguration"):
            continue  # host paths do not exist on Fargate; EFS is not modelled
        opt = f"type=volume,destination={path}"
        if mp.get("readOnly"):
            opt += ",readonly"
        args += ["--mount", opt]
    task_cpu = _num(getattr(td, "cpu", None))
    task_mem = _num(getattr(td, "memory", None))
    if task_cpu:
        args += ["--cpus", f"{task_cpu / 1024:g}"]
    c_cpu = _num(container.get("cpu"))
    if c_cpu:
        args += ["--cpu-shares", str(max(2, int(c_cpu)))]
    mem = _num(container.get("memory")) or task_mem
    if mem:
        args += ["--memory", f"{int(mem)}m"]
    res = _num(container.get("memoryReservation"))
    if res and (not mem or res <= mem):
        args += ["--memory-reservation", f"{int(res)}m"]
    for u in container.get("ulimits") or []:
        if u.get("name") and u.get("softLimit") is not None and u.get("hardLimit") is not None:
            args += ["--ulimit", f"{u['name']}={int(u['softLimit'])}:{int(u['hardLimit'])}"]
    return args


def health_command(hc: dict[str, Any]) -> list[str] | None:
    """A container healthCheck `command` as the argv `docker exec` runs: CMD as is, CMD-SHELL through /bin/sh."""
    cmd = list(hc.get("command") or [])
    if not cmd:
        return None
    if cmd[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(cmd[1:])]
    if cmd[0] == "CMD":
        return cmd[1:] or None
    return cmd


def task_health(containers: list[dict[str, Any]], health: dict[str, str]) -> str:
    """ECS: HEALTHY when every essential container with a health check is HEALTHY; UNHEALTHY when
    one is; UNKNOWN otherwise (also when no essential container has a health check)."""
    checked = [c["name"] for c in containers if c.get("essential", True) and c.get("healthCheck")]
    if not checked:
        return "UNKNOWN"
    states = [health.get(n, "UNKNOWN") for n in checked]
    if "UNHEALTHY" in states:
        return "UNHEALTHY"
    if all(s == "HEALTHY" for s in states):
        return "HEALTHY"
    return "UNKNOWN"


def start_order(containers: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Containers ordered so each comes after those it dependsOn; None on a cycle."""
    by_name = {c.get("name"): c for c in containers}
    out: list[dict[str, Any]] = []
    state: dict[str, int] = {}

    def visit(c: dict[str, Any]) -> bool:
        n = c.get("name")
        if state.get(n) == 2:
            return True
        if state.get(n) == 1:
            return False
        state[n] = 1
        for d in c.get("dependsOn") or (c.get("definition") or {}).get("dependsOn") or []:
            dep = by_name.get(d.get("containerName"))
            if dep is not None and not visit(dep):
                return False
        state[n] = 2
        out.append(c)
        return True

    for c in containers:
        if not visit(c):
            return None
    return out
