"""An ALB data plane for moto's ELBv2: load balancers answer HTTP and HTTPS on loopback.

moto keeps load balancers, listeners, rules and target groups as API objects
only. Here each load balancer gets a loopback IPv4 address as its DNSName,
and each HTTP or HTTPS listener becomes a small threaded HTTP server on
<that address>:<listener port> (HTTPS: TLS with the listener's ACM
certificates, chosen by SNI as an ALB does; see tls.py) that routes like an ALB:

  rules by priority (path-pattern, host-header, http-header,
  http-request-method, query-string, source-ip), then the default actions
  ->  forward: proxy to a healthy target of the target group (round-robin)
      redirect: 301/302 with the Location built from the RedirectConfig
      fixed-response: the configured status, content type and body

The address is 127.<a>.<b>.<n>: a.b are the high and low bytes of the moto
port (so worlds on different ports never share an address, and a >= 1 or
b >= 1 means it is never 127.0.0.1), n counts load balancers (1..254,
reused after a reset or when a load balancer is deleted).

Routing decisions read moto's objects under the emulator's LOCK; proxying
happens outside it. Servers are started and stopped by `sync()`, which the
ELBv2 patches call after every change to load balancers or listeners.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import random
import re
import secrets
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import tls
from .world import LOCK, World, log

SERVED_PROTOCOLS = ("HTTP", "HTTPS")
TLS_HANDSHAKE_TIMEOUT = 30.0

# Headers that describe one connection, not the message: never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}

REASONS = {
    400: "Bad Request",
    301: "Moved Permanently",
    302: "Found",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}

DEFAULT_IDLE_TIMEOUT = 60.0  # idle_timeout.timeout_seconds


def elb_page(status: int) -> bytes:
    """The small HTML page an ALB sends with the errors and redirects it makes itself."""
    title = f"{status} {REASONS.get(status, '')}".strip()
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def wildcard_match(pattern: str, value: str, *, ignore_case: bool) -> bool:
    """ELB condition patterns: `*` matches 0 or more characters, `?` exactly one; the whole value."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _action_data(action: Any) -> dict[str, Any]:
    # moto keeps FakeAction objects, but ModifyListener stores the request's plain dicts.
    data = getattr(action, "data", action)
    return data if isinstance(data, dict) else {}


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: str
    headers: list[tuple[str, str]]
    client_ip: str
    host: str  # Host header without the port (the listener's address when absent)

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Decision:
    """What to do with a request: answer it (status/headers/body), or proxy it to `target`."""

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    target: tuple[str, int] | None = None
    target_group: str = ""
    timeout: float = DEFAULT_IDLE_TIMEOUT
    why: str = ""


def elb_error(status: int, why: str) -> Decision:
    return Decision(status=status, headers=[("Content-Type", "text/html")], body=elb_page(status), why=why)


@dataclass
class Served:
    """One HTTP listener's server on (address, port)."""

    address: str
    port: int
    lb_arn: str
    listener_arn: str
    backend: Any  # moto ELBv2Backend
    protocol: str = "HTTP"  # or HTTPS
    server: "_Server | None" = None
    thread: threading.Thread | None = None
    error: str | None = None
    requests: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stopping never waits for requests in flight
    allow_reuse_address = True  # SO_REUSEADDR: a listener can come back on the same port at once
    request_queue_size = 64

    def __init__(self, served: Served, plane: "DataPlane"):
        self.served = served
        self.plane = plane
        super().__init__((served.address, served.port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request is normal; anything else is logged, not fatal.
        import sys
        import traceback

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            log(f"alb: error serving {client_address} on {self.served.address}:{self.served.port}:\n{traceback.format_exc()}")

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address's FQDN (a DNS query): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.served.address
        self.server_port = self.served.port

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.served.protocol == "HTTPS":
            # The handshake happens in the request's own thread, on its first read.
            sock.settimeout(TLS_HANDSHAKE_TIMEOUT)
            sock = self.plane.tls_context(self.served).wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "awselb/2.0"

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        self.close_connection = True  # one request per connection: a stopped listener leaves nothing open
        served = self.server.served
        target = self.path
        if not target.startswith("/"):  # absolute-form request target
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        path, _, query = target.partition("?")
        host_header = self.headers.get("Host") or ""
        host = re.sub(r":\d+$", "", host_header) if not host_header.startswith("[") else host_header
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self._send(400, [("Content-Type", "text/html")], elb_page(400))
            return
        req = Request(
            method=self.command,
            path=path or "/",
            query=query,
            headers=list(self.headers.items()),
            client_ip=self.client_address[0],
            host=host or served.address,
        )
        decision = self.server.plane.route(served, req)
        if decision.target is None:
            headers = list(decision.headers)
            if decision.why:
                headers.append(("X-Patchwork-Emulator", decision.why))
            self._send(decision.status, headers, decision.body)
            return
        self._proxy(req, body, target, decision)

    def _proxy(self, req: Request, body: bytes, target: str, d: Decision) -> None:
        assert d.target is not None
        host, port = d.target
        served = self.server.served
        headers = [(k, v) for k, v in req.headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        xff = ", ".join([*req.header("X-Forwarded-For"), req.client_ip])
        headers = [(k, v) for k, v in headers if k.lower() not in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-port")]
        headers += [("X-Forwarded-For", xff), ("X-Forwarded-Proto", served.protocol.lower()),
                    ("X-Forwarded-Port", str(served.port))]
        if not req.header("X-Amzn-Trace-Id"):
            headers.append(("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"))
        if not req.header("Host"):
            headers.append(("Host", served.address if served.port == 80 else f"{served.address}:{served.port}"))
        if body or req.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        conn = http.client.HTTPConnection(host, port, timeout=d.timeout)
        try:
            try:
                conn.connect()
            except OSError as exc:
                why = f"target {host}:{port} of {d.target_group} did not answer: {exc}"
                self._send(502, [("Content-Type", "text/html"), ("X-Patchwork-Emulator", why)], elb_page(502))
                return
            try:
                conn.putrequest(req.method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read() if req.method != "HEAD" else b""
            except TimeoutError:
                why = f"target {host}:{port} of {d.target_group} did not respond within {d.timeout:g} s"
                self._send(504, [("Content-Type", "text/html"), ("X-Patchwork-Emulator", why)], elb_page(504))
                return
            except (OSError, http.client.HTTPException) as exc:
                why = f"target {host}:{port} of {d.target_group} failed: {exc!r}"
                self._send(502, [("Content-Type", "text/html"), ("X-Patchwork-Emulator", why)], elb_page(502))
                return
        finally:
            conn.close()
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        if req.method == "HEAD" and resp.getheader("Content-Length") is not None:
            out.append(("Content-Length", resp.getheader("Content-Length") or "0"))
            self._send(resp.status, out, b"", length=False, reason=resp.reason)
            return
        self._send(resp.status, out, data, reason=resp.reason)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, *, length: bool = True,
              reason: str | None = None) -> None:
        try:
            self.send_response_only(status, reason or REASONS.get(status))
            names = {k.lower() for k, _ in headers}
            if "server" not in names:
                self.send_header("Server", self.version_string())
            if "date" not in names:
                self.send_header("Date", self.date_time_string())
            for k, v in headers:
                self.send_header(k, v)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body and self.command != "HEAD" and status not in (204, 304) and status >= 200:
                self.wfile.write(body)
        except OSError:
            pass  # the client went away

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class DataPlane:
    def __init__(self, world: World):
        self.world = world
        port = int(world.moto_port)
        self.prefix = f"127.{(port >> 8) & 0xFF}.{port & 0xFF}"
        # load balancer ARN -> (address, moto ELBv2 backend)
        self.addresses: dict[str, tuple[str, Any]] = {}
        self.served: dict[tuple[str, int], Served] = {}
        self._next = 1
        self._rr: dict[str, int] = {}
        # HTTPS listeners: ACM's certificates, and the world's CA for the ones requested in ACM (tls.py).
        self.tls = tls.Authority(os.environ.get("PATCHWORK_EMULATOR_CA_DIR"))
        try:
            self.tls.ensure_ca()
        except OSError as exc:
            log(f"alb: cannot write the world's CA in {self.tls.dir}: {exc}")

    # ------------------------------------------------------------------ addresses
    def assign(self, lb: Any, backend: Any) -> str | None:
        """Give a new load balancer its loopback address (its DNSName)."""
        with LOCK:
            if lb.arn in self.addresses:
                return self.addresses[lb.arn][0]
            used = {a for a, _ in self.addresses.values()}
            for i in range(254):
                n = (self._next - 1 + i) % 254 + 1
                address = f"{self.prefix}.{n}"
                if address not in used:
                    self._next = n % 254 + 1
                    self.addresses[lb.arn] = (address, backend)
                    return address
            log(f"alb: no free address under {self.prefix}.0/24 for {lb.name}; it keeps moto's DNS name")
            return None

    # ------------------------------------------------------------------ servers
    def sync(self, backend: Any) -> None:
        """Start/stop servers so that every HTTP/HTTPS listener of `backend`'s load balancers is served."""
        with LOCK:
            live = backend.load_balancers
            for arn in [a for a, (_, be) in self.addresses.items() if be is backend and a not in live]:
                del self.addresses[arn]
            want: dict[tuple[str, int], tuple[str, str, str]] = {}
            for lb in live.values():
                entry = self.addresses.get(lb.arn)
                if entry is None:
                    continue
                for listener in lb.listeners.values():
                    protocol = (listener.protocol or "").upper()
                    if protocol not in SERVED_PROTOCOLS:
                        continue
                    try:
                        want[(entry[0], int(listener.port))] = (lb.arn, listener.arn, protocol)
                    except (TypeError, ValueError):
                        continue
            for key, rec in list(self.served.items()):
                if rec.backend is backend and (key not in want or want[key][2] != rec.protocol):
                    self._stop([rec])
                    del self.served[key]
            for key, (lb_arn, listener_arn, protocol) in want.items():
                rec = self.served.get(key)
                if rec is None:
                    rec = Served(key[0], key[1], lb_arn, listener_arn, backend, protocol)
                    self.served[key] = rec
                rec.lb_arn, rec.listener_arn, rec.backend = lb_arn, listener_arn, backend
                if rec.server is None:
                    self._start(rec)

    def _start(self, rec: Served) -> None:
        try:
            server = _Server(rec, self)
        except OSError as exc:
            msg = f"cannot listen on {rec.address}:{rec.port}: {exc}"
            if msg != rec.error:
                log(f"alb: {msg} (the listener exists in the API but answers no requests)")
            rec.error = msg
            return
        rec.server, rec.error = server, None
        rec.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"pwemu-alb-{rec.address}:{rec.port}", daemon=True
        )
        rec.thread.start()
        log(f"alb: listener {rec.listener_arn.rsplit('/', 1)[-1]} serving {rec.protocol.lower()}://{rec.address}:{rec.port}/")

    @staticmethod
    def _stop(recs: list[Served]) -> None:
        servers = [r.server for r in recs if r.server is not None]
        for r in recs:
            r.server = None
        # shutdown() waits up to one poll interval per server: stop them side by side.
        stoppers = [threading.Thread(target=s.shutdown, daemon=True) for s in servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(5)
        for s in servers:
            s.server_close()

    def reset(self) -> None:
        with LOCK:
            self._stop(list(self.served.values()))
            self.served.clear()
            self.addresses.clear()
            self._next = 1
            self._rr.clear()
            self.tls.reset()

    # ------------------------------------------------------------------ TLS
    def certificates(self, served: Served) -> list[tls.Served]:
        """The listener's certificates as an ALB holds them: the default first, then the listener certificates."""
        with LOCK:
            lb = served.backend.load_balancers.get(served.lb_arn)
            listener = lb.listeners.get(served.listener_arn) if lb is not None else None
            if listener is None:
                return []
            arns = [a for a in [getattr(listener, "certificate", None), *(getattr(listener, "certificates", None) or [])] if a]
        out: list[tls.Served] = []
        for arn in dict.fromkeys(arns):
            got = self.tls.served(arn)
            if got is not None:
                out.append(got)
        return out

    def tls_context(self, served: Served) -> ssl.SSLContext:
        """A context for one connection: the default certificate, switched by the client's SNI name."""
        certs = self.certificates(served)
        if not certs:
            # No certificate ACM can give (deleted meanwhile): the handshake fails, as nothing can be presented.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            return ctx
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.minimum_version = ssl.TLSVersion.TLSv1_2

        def pick(sock: Any, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            chosen = tls.choose(certs, server_name)
            if chosen is not None:
                sock.context = chosen.context

        base.sni_callback = pick
        # Without SNI the callback still runs (server_name None) and selects the default certificate.
        return base

    def describe(self) -> list[dict[str, Any]]:
        with LOCK:
            out = []
            for arn, (address, backend) in self.addresses.items():
                lb = backend.load_balancers.get(arn)
                if lb is None:
                    continue
                listeners = []
                for listener in lb.listeners.values():
                    try:
                        rec = self.served.get((address, int(listener.port)))
                    except (TypeError, ValueError):
                        rec = None
                    protocol = (listener.protocol or "").upper()
                    http = protocol in SERVED_PROTOCOLS
                    listeners.append({
                        "listenerArn": listener.arn,
                        "protocol": listener.protocol,
                        "port": listener.port,
                        "serving": bool(rec and rec.server),
                        "url": f"{protocol.lower()}://{address}:{listener.port}/" if http else None,
                        "error": (rec.error if rec else None) if http else f"{listener.protocol} listeners are not served",
                        "requests": rec.requests if rec else 0,
                        **({"certificates": [a for a in dict.fromkeys([getattr(listener, "certificate", None),
                                             *(getattr(listener, "certificates", None) or [])]) if a]}
                           if protocol == "HTTPS" else {}),
                    })
                out.append({"loadBalancerArn": arn, "name": lb.name, "dnsName": lb.dns_name, "address": address,
                            "listeners": listeners})
            return out

    # ------------------------------------------------------------------ routing
    def route(self, served: Served, req: Request) -> Decision:
        with LOCK:
            served.requests += 1
            lb = served.backend.load_balancers.get(served.lb_arn)
            listener = lb.listeners.get(served.listener_arn) if lb is not None else None
            if listener is None or self.served.get((served.address, served.port)) is not served:
                return elb_error(503, "the listener no longer exists")
            rules = [r for r in listener.rules.values() if not r.is_default]
            rules.sort(key=lambda r: int(r.priority) if str(r.priority).isdigit() else 1 << 30)
            chosen = next((r for r in rules if self._matches(r.conditions or [], req)), None)
            actions = chosen.actions if chosen is not None else listener.default_actions
            timeout = DEFAULT_IDLE_TIMEOUT
            try:
                timeout = float(lb.attrs.get("idle_timeout.timeout_seconds") or DEFAULT_IDLE_TIMEOUT)
            except (TypeError, ValueError, AttributeError):
                pass
            datas = sorted((_action_data(a) for a in actions or []), key=lambda a: int(a.get("Order") or 0))
            for data in datas:
                kind = data.get("Type")
                if kind == "forward":
                    return self._forward(served, data, timeout)
                if kind == "redirect":
                    return self._redirect(served, data.get("RedirectConfig") or {}, req)
                if kind == "fixed-response":
                    return self._fixed(data.get("FixedResponseConfig") or {})
                # authenticate-oidc / authenticate-cognito: not emulated, skipped
            return elb_error(503, "no forward, redirect or fixed-response action")

    def _matches(self, conditions: list[dict[str, Any]], req: Request) -> bool:
        for cond in conditions:
            fld = cond.get("Field")

            def values(config: str) -> list[Any]:
                return list((cond.get(config) or {}).get("Values") or cond.get("Values") or [])

            if fld == "path-pattern":
                ok = any(wildcard_match(p, req.path, ignore_case=False) for p in values("PathPatternConfig"))
            elif fld == "host-header":
                ok = any(wildcard_match(p, req.host, ignore_case=True) for p in values("HostHeaderConfig"))
            elif fld == "http-request-method":
                ok = req.method in values("HttpRequestMethodConfig")
            elif fld == "http-header":
                cfg = cond.get("HttpHeaderConfig") or {}
                got = req.header(cfg.get("HttpHeaderName") or "")
                ok = any(wildcard_match(p, v, ignore_case=True) for p in cfg.get("Values") or [] for v in got)
            elif fld == "query-string":
                pairs = parse_qsl(req.query, keep_blank_values=True)
                ok = any(
                    (w.get("Key") is None or wildcard_match(w["Key"], k, ignore_case=True))
                    and wildcard_match(w.get("Value", ""), v, ignore_case=True)
                    for w in values("QueryStringConfig")
                    for k, v in pairs
                )
            elif fld == "source-ip":
                ok = False
                for cidr in values("SourceIpConfig"):
                    try:
                        ok = ok or ipaddress.ip_address(req.client_ip) in ipaddress.ip_network(cidr, strict=False)
                    except ValueError:
                        pass
            else:
                ok = False
            if not ok:
                return False
        return True

    def _forward(self, served: Served, data: dict[str, Any], timeout: float) -> Decision:
        if data.get("TargetGroupArn"):
            tg_arn = data["TargetGroupArn"]
        else:
            groups = [g for g in (data.get("ForwardConfig") or {}).get("TargetGroups") or [] if g.get("TargetGroupArn")]
            weights = [max(0, int(g.get("Weight", 1) or 0)) for g in groups]
            if not groups or not any(weights):
                return elb_error(503, "forward action without a target group of non-zero weight")
            tg_arn = random.choices(groups, weights=weights)[0]["TargetGroupArn"]
        backend = served.backend
        tg = backend.target_groups.get(tg_arn)
        if tg is None:
            return elb_error(503, f"target group {tg_arn} does not exist")
        healthy: list[tuple[str, int]] = []
        for key, t in sorted(tg.targets.items()):
            port = int(t.get("Port") or tg.port or 80)
            status = tg.health_for({"Id": t["Id"], "Port": port}, backend.ec2_backend)
            if status.status == "healthy":
                healthy.append((t["Id"], port))
        if not healthy:
            return elb_error(503, f"no healthy targets in target group {tg_arn}")
        reachable = [h for h in healthy if _is_loopback(h[0])]
        if not reachable:
            ids = ", ".join(f"{i}:{p}" for i, p in healthy)
            return elb_error(502, f"healthy targets in {tg_arn} are not on loopback (simulated tasks?): {ids}")
        n = self._rr.get(tg_arn, 0)
        self._rr[tg_arn] = n + 1
        return Decision(target=reachable[n % len(reachable)], target_group=tg_arn, timeout=timeout)

    def _redirect(self, served: Served, cfg: dict[str, Any], req: Request) -> Decision:
        words = {
            "#{protocol}": served.protocol,
            "#{host}": req.host,
            "#{port}": str(served.port),
            "#{path}": req.path[1:] if req.path.startswith("/") else req.path,
            "#{query}": req.query,
        }

        def fill(template: str) -> str:
            for k, v in words.items():
                template = template.replace(k, v)
            return template

        protocol = fill(cfg.get("Protocol") or "#{protocol}").lower()
        port = fill(cfg.get("Port") or "#{port}")
        host = fill(cfg.get("Host") or "#{host}")
        path = fill(cfg.get("Path") or "/#{path}")
        query = fill(cfg.get("Query") if cfg.get("Query") is not None else "#{query}")
        default_port = {"http": "80", "https": "443"}.get(protocol)
        netloc = host if port == default_port else f"{host}:{port}"
        location = f"{protocol}://{netloc}{path if path.startswith('/') else '/' + path}"
        if query:
            location += f"?{query}"
        status = 301 if str(cfg.get("StatusCode", "HTTP_301")).endswith("301") else 302
        return Decision(status=status, headers=[("Content-Type", "text/html"), ("Location", location)], body=elb_page(status))

    @staticmethod
    def _fixed(cfg: dict[str, Any]) -> Decision:
        try:
            status = int(cfg.get("StatusCode") or 200)
        except ValueError:
            status = 200
        ctype = cfg.get("ContentType") or "text/plain"
        if "charset" not in ctype:
            ctype += "; charset=utf-8"
        body = str(cfg.get("MessageBody") or "").encode()
        return Decision(status=status, headers=[("Content-Type", ctype)], body=body)
