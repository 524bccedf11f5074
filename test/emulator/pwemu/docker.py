"""Thin helpers around the `docker` CLI and loopback HTTP probes.

The emulator talks to the local Docker engine through the CLI (no extra
Python dependency). Every call has a timeout so a hung engine cannot hang
the moto server.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import threading
import time

LABEL = "patchwork.emulator"

_engine_lock = threading.Lock()
_engine_checked_at = 0.0
_engine_ok = False

_port_lock = threading.Lock()
_ports_in_use: set[int] = set()


def docker_bin() -> str | None:
    return os.environ.get("DOCKER") or shutil.which("docker")


def run(args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    exe = docker_bin()
    if not exe:
        raise FileNotFoundError("docker CLI not found")
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def engine_available() -> bool:
    """True when a Docker engine answers; cached for 10 s (a "no" for 2 s)."""
    global _engine_checked_at, _engine_ok
    with _engine_lock:
        if time.monotonic() - _engine_checked_at < (10 if _engine_ok else 2):
            return _engine_ok
        try:
            res = run(["version", "--format", "{{.Server.Version}}"], timeout=10)
            _engine_ok = res.returncode == 0 and bool(res.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            _engine_ok = False
        _engine_checked_at = time.monotonic()
        return _engine_ok


_LOOPBACK_REGISTRY = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost)(:\d+)?/")


def is_loopback_registry_ref(image: str) -> bool:
    return bool(_LOOPBACK_REGISTRY.match(image))


def image_present(image: str) -> bool:
    try:
        return run(["image", "inspect", image], timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def obtain_image(image: str) -> tuple[bool, str]:
    """Make `image` available locally. Returns (ok, why-not).

    An image is used when it is already present, or when it lives in a
    registry on a loopback address and `docker pull` succeeds. Anything else
    (e.g. an ECR URI of the emulated account) cannot be obtained here.
    """
    if image_present(image):
        return True, ""
    if not is_loopback_registry_ref(image):
        return False, "image not present locally and not in a loopback registry"
    try:
        res = run(["pull", "--quiet", image], timeout=300)
    except subprocess.TimeoutExpired:
        return False, "docker pull timed out"
    if res.returncode != 0:
        return False, (res.stderr.strip().splitlines() or ["docker pull failed"])[-1]
    return True, ""


_MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def manifest_exists(image: str, timeout: float = 3.0) -> tuple[bool, str]:
    """HEAD the manifest of a loopback-registry image (registry HTTP API v2). Returns (ok, why-not)."""
    m = re.match(r"^([^/]+)/(.+?)(?:@(sha256:[0-9a-f]{64})|:([\w][\w.-]*))?$", image)
    if not m or not is_loopback_registry_ref(image):
        return False, f"{image}: not a loopback registry reference"
    hostport, name, digest, tag = m.groups()
    host, _, port = hostport.partition(":")
    ref = digest or tag or "latest"
    try:
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
        try:
            conn.request("HEAD", f"/v2/{name}/manifests/{ref}", headers={"Accept": _MANIFEST_TYPES})
            status = conn.getresponse().status
        finally:
            conn.close()
    except (OSError, ValueError) as exc:
        return False, f'failed to do request: Head "http://{hostport}/v2/{name}/manifests/{ref}": {exc}'
    if status == 200:
        return True, ""
    if status == 404:
        return False, f"{image}: not found"
    return False, f"unexpected status from HEAD request to http://{hostport}/v2/{name}/manifests/{ref}: {status}"


def alloc_port() -> int:
    with _port_lock:
        for _ in range(50):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if port not in _ports_in_use:
                _ports_in_use.add(port)
                return port
    raise RuntimeError("no free port")


def release_port(port: int | None) -> None:
    if port is None:
        return
    with _port_lock:
        _ports_in_use.discard(port)


def start_container(
    *,
    name: str,
    image: str,
    env: dict[str, str],
    labels: dict[str, str],
    entry_point: list[str] | None,
    command: list[str] | None,
    working_dir: str | None,
    options: list[str] | None = None,
) -> tuple[str | None, str]:
    """`docker run -d --network host ...` (+ `options`, runtime.docker_options). Returns (container id, error)."""
    args = ["run", "-d", "--network", "host", "--name", name, *(options or [])]
    for k, v in {LABEL: "1", **labels}.items():
        args += ["--label", f"{k}={v}"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    if working_dir:
        args += ["--workdir", working_dir]
    if entry_point:
        # docker run takes one entrypoint word; the rest goes before the command.
        args += ["--entrypoint", entry_point[0]]
        command = [*entry_point[1:], *(command or [])]
    args.append(image)
    args += command or []
    try:
        res = run(args, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "docker run timed out"
    if res.returncode != 0:
        return None, (res.stderr.strip().splitlines() or ["docker run failed"])[-1]
    return res.stdout.strip(), ""


def image_facts(image: str) -> dict[str, str] | None:
    """The local image's architecture, OS and configured USER (`docker image inspect`); None if unknown."""
    try:
        res = run(["image", "inspect", "-f", "{{.Architecture}}|{{.Os}}|{{.Config.User}}", image], timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    arch, _, rest = res.stdout.strip().partition("|")
    os_, _, user = rest.partition("|")
    return {"architecture": arch, "os": os_, "user": user}


def engine_arch() -> str:
    try:
        res = run(["version", "--format", "{{.Server.Arch}}"], timeout=10)
        return res.stdout.strip() or "amd64"
    except (OSError, subprocess.TimeoutExpired):
        return "amd64"


def exec_status(cid: str, argv: list[str], timeout: float) -> int | None:
    """Exit code of `docker exec cid argv...` (a container health check); None when it timed out."""
    try:
        return run(["exec", cid, *argv], timeout=max(1.0, timeout)).returncode
    except subprocess.TimeoutExpired:
        return None
    except OSError:
        return 1


def container_state(cid: str) -> tuple[bool, int | None]:
    """(running, exit code if exited). Unknown container counts as exited."""
    try:
        res = run(["inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", cid], timeout=20)
    except subprocess.TimeoutExpired:
        return True, None  # engine slow: assume unchanged
    if res.returncode != 0:
        return False, None
    running, _, code = res.stdout.strip().partition(" ")
    if running == "true":
        return True, None
    try:
        return False, int(code)
    except ValueError:
        return False, None


def remove_container(cid: str | None) -> None:
    if not cid:
        return
    try:
        run(["rm", "-f", "-v", cid], timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        pass


def remove_labelled(label_filter: str) -> int:
    """Remove every container carrying `label_filter` (e.g. 'patchwork.emulator.port=5000')."""
    try:
        res = run(["ps", "-aq", "--filter", f"label={label_filter}"], timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    ids = res.stdout.split()
    if ids:
        try:
            run(["rm", "-f", "-v", *ids], timeout=120)
        except subprocess.TimeoutExpired:
            pass
    return len(ids)


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    """GET http://127.0.0.1:port/path; the status code, or None if no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "ELB-HealthChecker/2.0"})
        resp = conn.getresponse()
        resp.read(65536)
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def matcher_accepts(matcher: str | None, status: int) -> bool:
    """ELB matcher syntax: '200', '200,302', '200-299'."""
    for part in (matcher or "200").split(","):
        part = part.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            if lo.isdigit() and hi.isdigit() and int(lo) <= status <= int(hi):
                return True
        elif part.isdigit() and int(part) == status:
            return True
    return False
