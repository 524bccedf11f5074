"""WSGI middleware in front of moto's app.

* `/_patchwork/...` -- the emulator's JSON control endpoints (see README.md).
* `POST /moto-api/reset` -- also resets the emulator (state, config, containers).
* Requests of the services patchwork uses are checked against AWS's API models
  first (validate.py; config `validateRequests`); a violation is answered as
  that service answers it and never reaches moto.
* Requests signed with an IAM user's access key are authorised against its policies (iameval.py;
  config `evaluateIam`); a denied one is answered AccessDenied* as that service answers it.
* ECS, ELBv2 and EC2 API calls run under the emulator's lock, so the ticker
  never changes a service while moto reads or writes it.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from . import docker, iameval
from .validate import Validator
from .world import LOCK, World

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_LOCKED_SERVICES = {"ecs", "elasticloadbalancing", "ec2"}


def _scope(environ: dict[str, Any]) -> str | None:
    """The SigV4 credential scope's service (signing name), if the request is signed."""
    m = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else None


def _needs_lock(environ: dict[str, Any]) -> bool:
    scope = _scope(environ)
    if scope:
        return scope in _LOCKED_SERVICES
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return target.startswith("AmazonEC2ContainerService")


class Control:
    def __init__(self, app: Callable, world: World, moto_version: str):
        self.app = app
        self.world = world
        self.moto_version = moto_version
        self.validator = Validator()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_patchwork/"):
            return self._control(environ, start_response, path[len("/_patchwork/"):].strip("/"), method)
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            self.world.reset()
            self.validator.stats.reset()
        if self.world.config.get("validateRequests") and not path.startswith("/moto-api"):
            refused = self._validate(environ)
            if refused is not None:
                status, headers, data = refused
                start_response(f"{status} Bad Request", headers)
                return [data]
        if self.world.config.get("evaluateIam") and not path.startswith("/moto-api"):
            denied = self._evaluate(environ)
            if denied is not None:
                status, headers, data = denied
                start_response(f"{status} {'Forbidden' if status == 403 else 'Bad Request'}", headers)
                return [data]
        if _needs_lock(environ):
            with LOCK:
                body = self.app(environ, start_response)
                try:
                    return [b"".join(body)]
                finally:
                    close = getattr(body, "close", None)
                    if close:
                        close()
        return self.app(environ, start_response)

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length < 0 or (not length and environ.get("HTTP_TRANSFER_ENCODING")):
            return None  # a streamed body: left to moto unread
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)  # moto reads it again
        return raw

    def _validate(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes] | None:
        return self.validator.check(environ, _scope(environ), lambda: self._read_body(environ))

    def _evaluate(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """IAM evaluation of a request signed by an IAM user of this world (iameval.py)."""
        if iameval.access_key(environ) is None:
            return None
        found = self.validator.identify(environ, _scope(environ))
        if found is None:
            return None
        service, protocol = found
        raw = self._read_body(environ)
        if raw is None:
            return None
        try:
            if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip" and raw:
                import gzip

                raw = gzip.decompress(raw)
            if protocol == "json":
                op = environ["HTTP_X_AMZ_TARGET"].rsplit(".", 1)[1]
                params = json.loads(raw) if raw.strip() else {}
                if not isinstance(params, dict):
                    return None
            else:
                pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                if raw:
                    pairs += parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
                params = dict(pairs)
                op = params.get("Action", "")
        except Exception:  # noqa: BLE001 - malformed: moto answers it
            return None
        meta = dict(self.validator.model(service).metadata)
        with LOCK:  # moto's IAM/ECS state read consistently with the ticker
            return iameval.check(environ, service, protocol, op, params, meta)

    # ------------------------------------------------------------------
    def _control(self, environ: dict[str, Any], start_response: Callable, route: str, method: str) -> Iterable[bytes]:
        try:
            body = self._read_json(environ)
            status, payload = self._route(route, method, body, environ)
        except ValueError as exc:
            status, payload = 400, {"error": str(exc)}
        data = json.dumps(payload, default=str).encode()
        start_response(
            f"{status} {'OK' if status < 400 else 'Error'}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    @staticmethod
    def _read_json(environ: dict[str, Any]) -> Any:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not JSON: {exc}") from exc

    def _route(self, route: str, method: str, body: Any, environ: dict[str, Any]) -> tuple[int, Any]:
        w = self.world
        if route == "health" and method == "GET":
            return 200, {"ok": True, "emulator": "patchwork", "moto": self.moto_version, "docker": docker.engine_available()}
        if route == "config":
            if method == "POST":
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                return 200, w.set_config(body)
            if method == "DELETE":
                with LOCK:
                    w.config = dict(w.defaults)
                    w._apply_settings()
                    return 200, dict(w.config)
            return 200, dict(w.config)
        if route == "failing-images":
            with LOCK:
                if method == "POST":
                    image = (body or {}).get("image")
                    if not isinstance(image, str) or not image:
                        raise ValueError('expected {"image": "<ref or substring>"}')
                    if image not in w.failing_images:
                        w.failing_images.append(image)
                elif method == "DELETE":
                    image = (body or {}).get("image") if isinstance(body, dict) else None
                    w.failing_images = [i for i in w.failing_images if image and i != image]
                return 200, {"failingImages": list(w.failing_images)}
        if route == "target-health":
            with LOCK:
                if method == "POST":
                    if not isinstance(body, dict) or not body.get("targetGroupArn") or not body.get("id") or not body.get("state"):
                        raise ValueError('expected {"targetGroupArn", "id", "port"?, "state", "reason"?, "description"?}')
                    port = body.get("port")
                    key = (body["targetGroupArn"], str(body["id"]), int(port) if port is not None else None)
                    w.health_overrides[key] = (body["state"], body.get("reason"), body.get("description"))
                elif method == "DELETE":
                    w.health_overrides.clear()
                return 200, {
                    "overrides": [
                        {"targetGroupArn": a, "id": i, "port": p, "state": s, "reason": r, "description": d}
                        for (a, i, p), (s, r, d) in w.health_overrides.items()
                    ]
                }
        if route == "tasks" and method == "GET":
            from urllib.parse import parse_qs

            q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            with LOCK:
                tasks = [
                    t.describe()
                    for t in w.tasks.values()
                    if (q.get("all") or t.live)
                    and (not q.get("service") or t.st.svc.name == q["service"])
                    and (not q.get("cluster") or t.st.svc.cluster_name == q["cluster"])
                ]
            return 200, {"tasks": tasks}
        if route == "load-balancers" and method == "GET":
            return 200, {"loadBalancers": w.alb.describe() if w.alb is not None else []}
        if route == "validation":
            if method == "DELETE":
                self.validator.stats.reset(lifetime=True)
            elif method != "GET":
                return 405, {"error": "GET or DELETE /_patchwork/validation"}
            return 200, {
                "enabled": bool(w.config.get("validateRequests")),
                **self.validator.stats.snapshot(),
                "skippedPatterns": dict(self.validator.skipped_patterns),
            }
        if route == "tick" and method == "POST":
            with LOCK:
                w.tick()
            return 200, {"ok": True}
        return 404, {"error": f"no route {method} /_patchwork/{route}"}
