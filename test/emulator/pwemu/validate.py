"""Every request of the services patchwork uses, checked against AWS's own API model first.

moto accepts much that AWS refuses (an enum value that does not exist, a number out of range, a
missing required member, a name that breaks the model's pattern). AWS publishes those constraints
in its service models, and the pinned botocore in the emulator's venv ships them
(`botocore/data/<service>/<version>/service-2.json`). Before moto sees a request, `Validator.check`
parses the request's wire form (JSON body; query / EC2 form parameters) back into the shape of the
operation's input, checks it against the model (required members, types, string / list / map length
`min`/`max`, number `min`/`max`, `enum`, `pattern`, nested structures, lists and maps) and, on a
violation, answers as that service answers (see `ERRORS` and README.md "Request validation").

Counts per operation and member are kept (`GET /_patchwork/validation`).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import botocore.session

# botocore service name -> how the service answers a request its model refuses.
#   code:  the error code; style: "coral" (n validation errors detected: ...), "ecr" (Invalid parameter at ...),
#   "ec2" (MissingParameter / InvalidParameterValue, EC2's own wording).
ERRORS: dict[str, dict[str, str]] = {
    "ecs": {"code": "InvalidParameterException", "style": "coral"},
    "ecr": {"code": "InvalidParameterException", "style": "ecr"},
    "logs": {"code": "InvalidParameterException", "style": "coral"},
    "dynamodb": {"code": "ValidationException", "style": "coral"},
    "ssm": {"code": "ValidationException", "style": "coral"},
    "secretsmanager": {"code": "ValidationException", "style": "coral"},
    "acm": {"code": "ValidationException", "style": "coral"},
    "application-autoscaling": {"code": "ValidationException", "style": "coral"},
    "cloudwatch": {"code": "ValidationError", "style": "coral"},
    "elbv2": {"code": "ValidationError", "style": "coral"},
    "iam": {"code": "ValidationError", "style": "coral"},
    "sts": {"code": "ValidationError", "style": "coral"},
    "ec2": {"code": "InvalidParameterValue", "style": "ec2"},
}
SERVICES = tuple(ERRORS)

# Tools whose violations are deliberate (the emulator's own tests): the AWS CLI run with
# AWS_EXECUTION_ENV=patchwork-expected-violation puts "exec-env/patchwork-expected-violation" in its User-Agent.
EXPECTED_MARK = "exec-env/patchwork-expected-violation"

_MISSING = object()


@dataclass
class Violation:
    path: str  # the member as AWS names it in messages: 'containerDefinitions.1.member.image'
    member: str  # the same without list indices / map keys, for counting: 'containerDefinitions.member.image'
    wire: str  # the parameter as sent (query / EC2: 'Filter.1.Value.1'; JSON: same as path)
    kind: str  # required | type | length | range | enum | pattern
    constraint: str  # 'Member must have value less than or equal to 300'
    value: Any


# ---------------------------------------------------------------------------------------- patterns
# The models' patterns are Java regular expressions, matched against the whole value (Java's
# String.matches: AWS refuses 'My Repo' for ECR's unanchored repositoryName pattern). Python's re
# differs in: \p{...} classes (none in re), \w \d \s (ASCII in Java: re.ASCII), a '-' next to a class
# escape inside [...] (literal in Java, an error in re), surrogate pairs \uD800\uDC00 (one code point
# in Java), \z.

_CATEGORY_RANGES: dict[str, list[str]] = {}
_CATEGORY_LOCK = threading.Lock()
_POSIX = {
    "Print": r"\x20-\x7E", "Graph": r"\x21-\x7E", "Alpha": "a-zA-Z", "Alnum": "a-zA-Z0-9", "Digit": "0-9",
    "Upper": "A-Z", "Lower": "a-z", "Punct": r"!-/:-@\[-`{-~", "Space": r" \t\n\x0B\f\r", "XDigit": "0-9a-fA-F",
    "Cntrl": r"\x00-\x1F\x7F", "ASCII": r"\x00-\x7F", "Blank": r" \t",
}


def _categories() -> dict[str, list[str]]:
    """Class-body ranges per Unicode general category (Lu, Zs, ...), computed once, in one pass."""
    with _CATEGORY_LOCK:
        if not _CATEGORY_RANGES:
            runs: dict[str, list[str]] = {}
            start, cat = 0, unicodedata.category(chr(0))
            for cp in range(1, sys.maxunicode + 2):
                c = unicodedata.category(chr(cp)) if cp <= sys.maxunicode else None
                if c != cat:
                    runs.setdefault(cat, []).append(_range(start, cp - 1))
                    start, cat = cp, c
            _CATEGORY_RANGES.update(runs)
        return _CATEGORY_RANGES


def _range(a: int, b: int) -> str:
    return f"\\U{a:08X}" if a == b else f"\\U{a:08X}-\\U{b:08X}"


def _class_body(name: str) -> str:
    name = name[2:] if name.startswith("Is") else name
    if name in _POSIX:
        return _POSIX[name]
    if re.fullmatch(r"[A-Z][a-z]?", name):
        body = "".join(r for cat, ranges in _categories().items() if cat.startswith(name) for r in ranges)
        if body:
            return body
    raise ValueError(f"unknown class \\p{{{name}}}")


_CLASS_ESCAPE = re.compile(r"\\[pP]\{\w+\}|\\[wdsWDS]")


def java_to_python(pattern: str) -> str:
    """The model's (Java) regular expression as a Python one (raises ValueError when it cannot be converted)."""
    # Surrogate pairs written as two \u escapes are one supplementary code point in Java.
    def pair(m: re.Match[str]) -> str:
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        return f"\\U{0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00):08X}"

    pattern = re.sub(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", pair, pattern, flags=re.I)
    out: list[str] = []
    i, n, in_class, after_class_escape = 0, len(pattern), False, False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            m = _CLASS_ESCAPE.match(pattern, i)
            if m and m.group(0)[1] in "pP":
                body = _class_body(m.group(0)[3:-1])
                negate = m.group(0)[1] == "P"
                if in_class:
                    if negate:
                        raise ValueError("negated \\P{...} inside a class")
                    out.append(body)
                else:
                    out.append(f"[{'^' if negate else ''}{body}]")
                i = m.end()
                after_class_escape = in_class
                continue
            out.append(r"\Z" if pattern[i + 1] == "z" else pattern[i : i + 2])
            after_class_escape = in_class and m is not None
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
                out.append(c)
            elif c == "-" and (after_class_escape or _CLASS_ESCAPE.match(pattern, i + 1)):
                out.append(r"\-")  # Java: a '-' next to \w, \d, \p{..} is a literal
            elif c == "[":
                out.append(r"\[")  # Java's nested classes (unions) are not used by these models; a literal in re
            else:
                out.append(c)
            after_class_escape = False
            i += 1
            continue
        if c == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
            else:
                out.append("[")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ']' is a literal in both
                out.append(r"\]")
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------- the validator
class Validator:
    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._by_signing: dict[str, str] = {}
        self._by_target: dict[str, str] = {}
        self._patterns: dict[tuple[str, str], Any] = {}
        self.skipped_patterns: dict[str, str] = {}
        for name in SERVICES:
            meta = self._session.get_service_data(name)["metadata"]
            self._by_signing.setdefault(meta.get("signingName") or meta["endpointPrefix"], name)
            if meta.get("targetPrefix"):
                self._by_target[meta["targetPrefix"]] = name
        self.stats = Stats()
        # Tag keys and values (every patchwork create) use \p{L}/\p{Z}/\p{N}: build the tables now, not on a request.
        threading.Thread(target=_categories, name="pwemu-unicode-classes", daemon=True).start()

    def model(self, name: str) -> Any:
        model = self._models.get(name)
        if model is None:
            with self._lock:
                model = self._models.get(name)
                if model is None:
                    model = self._session.get_service_model(name)
                    self._models[name] = model
        return model

    # ------------------------------------------------------------------ the request
    def identify(self, environ: dict[str, Any], scope: str | None) -> tuple[str, str] | None:
        """(service, protocol) of a request this validator knows, else None."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target and "." in target:
            name = self._by_target.get(target.rsplit(".", 1)[0])
            if name:
                return name, "json"
            return None
        name = self._by_signing.get(scope or "")
        if name is None:
            return None
        protocol = self.model(name).metadata.get("protocol")
        if protocol in ("query", "ec2") or "query" in (self.model(name).metadata.get("protocols") or []):
            ctype = environ.get("CONTENT_TYPE", "")
            if environ.get("REQUEST_METHOD") == "GET" or ctype.startswith("application/x-www-form-urlencoded"):
                return name, "ec2" if protocol == "ec2" else "query"
        return None

    def check(self, environ: dict[str, Any], scope: str | None,
              read: Callable[[], bytes | None]) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """None when the request may go on to moto, else the error response (status, headers, body).
        `read` gives the body (None: not readable here); it is called only for the services checked."""
        started = time.perf_counter()
        found = self.identify(environ, scope)
        if found is None:
            return None
        raw = read()
        if raw is None:
            return None
        name, protocol = found
        model = self.model(name)
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip" and raw:
            try:
                raw = gzip.decompress(raw)
            except OSError:
                return None
        try:
            if protocol == "json":
                op_name = environ["HTTP_X_AMZ_TARGET"].rsplit(".", 1)[1]
                params: Any = json.loads(raw) if raw.strip() else {}
                if not isinstance(params, dict):
                    return None
            else:
                pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                if raw:
                    pairs += parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
                flat = dict(pairs)
                op_name = flat.get("Action", "")
                if flat.get("Version") and flat["Version"] != model.metadata.get("apiVersion"):
                    return None  # e.g. classic ELB, which shares elasticloadbalancing with ELBv2
            op = model.operation_model(op_name)
        except Exception:  # malformed bodies, unknown operations: moto answers them
            return None
        violations: list[Violation] = []
        shape = op.input_shape
        if shape is not None:
            if protocol == "json":
                self._check(name, params, shape, "", "", "", violations, protocol)
            else:
                tree = _tree(flat)
                value = self._from_query(tree, shape, protocol == "ec2", "", "", "", violations, top=True)
                self._check(name, value, shape, "", "", "", violations, protocol)
        client = _client(environ)
        self.stats.checked(name, op_name, time.perf_counter() - started)
        if not violations:
            return None
        self.stats.record(name, op_name, client, violations)
        return self._respond(name, protocol, op_name, violations)

    # ------------------------------------------------------------------ wire (query / EC2) -> model shape
    @staticmethod
    def _wire_name(shape: Any, default: str, ec2: bool) -> str:
        ser = shape.serialization
        if ec2:
            if ser.get("queryName"):
                return ser["queryName"]
            if ser.get("name"):
                return ser["name"][0].upper() + ser["name"][1:]
            return default
        return ser.get("name", default)

    def _from_query(self, node: dict[Any, Any], shape: Any, ec2: bool, path: str, member: str, wire: str,
                    out: list[Violation], top: bool = False) -> Any:
        t = shape.type_name
        if t == "structure":
            result: dict[str, Any] = {}
            for name, mshape in shape.members.items():
                seg = self._wire_name(mshape, name, ec2)
                if (not ec2 and mshape.type_name == "list" and mshape.serialization.get("flattened")
                        and mshape.member.serialization.get("name")):
                    seg = mshape.member.serialization["name"]
                child = node.get(seg)
                if child is None:
                    continue
                p, m, w = _join(path, name), _join(member, name), f"{wire}.{seg}" if wire else seg
                result[name] = self._from_query(child, mshape, ec2, p, m, w, out)
            return result
        if t == "list":
            if ec2 or shape.serialization.get("flattened"):
                container, base = node, wire
            else:
                item_name = shape.member.serialization.get("name", "member")
                container, base = node.get(item_name, {}), f"{wire}.{item_name}"
            items = sorted((int(k), v) for k, v in container.items() if isinstance(k, str) and k.isdigit())
            return [
                self._from_query(v, shape.member, ec2, f"{path}.{i}.member", f"{member}.member", f"{base}.{i}", out)
                for i, v in items
            ]
        if t == "map":
            entries = node if shape.serialization.get("flattened") else node.get("entry", {})
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            result = {}
            for k, entry in sorted(((int(k), v) for k, v in entries.items() if isinstance(k, str) and k.isdigit())):
                key = entry.get(kname, {}).get(None)
                if key is None:
                    continue
                val = entry.get(vname)
                result[key] = (
                    None if val is None
                    else self._from_query(val, shape.value, ec2, f"{path}.{key}", f"{member}.value", f"{wire}.{k}", out)
                )
            return result
        text = node.get(None)
        if text is None:
            return None
        try:
            if t in ("integer", "long"):
                return int(text)
            if t in ("float", "double"):
                return float(text)
            if t == "boolean":
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                return text.lower() == "true"
        except ValueError:
            out.append(Violation(path, member, wire, "type", f"Member must be a valid {t}", text))
            return _MISSING
        return text

    # ------------------------------------------------------------------ the model's constraints
    def _check(self, service: str, value: Any, shape: Any, path: str, member: str, wire: str,
               out: list[Violation], protocol: str) -> None:
        if value is _MISSING:
            return
        t = shape.type_name
        meta = shape.metadata
        if t == "structure":
            if meta.get("document"):
                return
            if not isinstance(value, dict):
                out.append(Violation(path, member, wire, "type", "Member must be a structure", value))
                return
            members = shape.members
            ec2 = protocol == "ec2"
            for req in shape.required_members:
                if value.get(req) is None:
                    seg = self._wire_name(members[req], req, ec2) if protocol != "json" else req
                    out.append(Violation(_join(path, req), _join(member, req), f"{wire}.{seg}" if wire else seg,
                                         "required", "Member must not be null", None))
            for name, v in value.items():
                mshape = members.get(name)
                if mshape is None or v is None:
                    continue
                seg = name if protocol == "json" else self._wire_name(mshape, name, ec2)
                self._check(service, v, mshape, _join(path, name), _join(member, name),
                            f"{wire}.{seg}" if wire else seg, out, protocol)
            return
        if t == "list":
            if not isinstance(value, list):
                out.append(Violation(path, member, wire, "type", "Member must be a list", value))
                return
            self._length(len(value), meta, path, member, wire, value, out)
            ec2 = protocol == "ec2"
            item = shape.member.serialization.get("name", "member")
            for i, v in enumerate(value, 1):
                if v is None:
                    continue
                w = f"{wire}.{i}" if ec2 or protocol == "json" or shape.serialization.get("flattened") else f"{wire}.{item}.{i}"
                self._check(service, v, shape.member, f"{path}.{i}.member", f"{member}.member", w, out, protocol)
            return
        if t == "map":
            if not isinstance(value, dict):
                out.append(Violation(path, member, wire, "type", "Member must be a map", value))
                return
            self._length(len(value), meta, path, member, wire, value, out)
            for k, v in value.items():
                keyv: list[Violation] = []
                self._check(service, k, shape.key, path, member, wire, keyv, protocol)
                for kv in keyv:
                    kv.constraint = f"Map keys must satisfy constraint: [{kv.constraint}]"
                    out.append(kv)
                if v is not None:
                    self._check(service, v, shape.value, f"{path}.{k}", f"{member}.value", f"{wire}.{k}", out, protocol)
            return
        if t == "string":
            if not isinstance(value, str):
                out.append(Violation(path, member, wire, "type", "Member must be a string", value))
                return
            if "pattern" in meta:
                rx = self._pattern(service, shape)
                if rx is not None and rx.fullmatch(value) is None:
                    out.append(Violation(path, member, wire, "pattern",
                                         f"Member must satisfy regular expression pattern: {meta['pattern']}", value))
            if "min" in meta or "max" in meta:
                self._length(_utf16_len(value), meta, path, member, wire, value, out)
            if shape.enum and value not in shape.enum:
                out.append(Violation(path, member, wire, "enum",
                                     f"Member must satisfy enum value set: [{', '.join(shape.enum)}]", value))
            return
        if t in ("integer", "long", "float", "double"):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and t in ("integer", "long") and isinstance(value, float) and not value.is_integer():
                ok = False
            if not ok:
                out.append(Violation(path, member, wire, "type", f"Member must be a valid {t}", value))
                return
            if "min" in meta and value < meta["min"]:
                out.append(Violation(path, member, wire, "range",
                                     f"Member must have value greater than or equal to {_num(meta['min'])}", value))
            if "max" in meta and value > meta["max"]:
                out.append(Violation(path, member, wire, "range",
                                     f"Member must have value less than or equal to {_num(meta['max'])}", value))
            return
        if t == "boolean" and not isinstance(value, bool):
            out.append(Violation(path, member, wire, "type", "Member must be a boolean", value))
        # blob, timestamp: the SDKs encode them; not checked beyond presence.

    @staticmethod
    def _length(n: int, meta: dict[str, Any], path: str, member: str, wire: str, value: Any, out: list[Violation]) -> None:
        if "min" in meta and n < meta["min"]:
            out.append(Violation(path, member, wire, "length",
                                 f"Member must have length greater than or equal to {_num(meta['min'])}", value))
        if "max" in meta and n > meta["max"]:
            out.append(Violation(path, member, wire, "length",
                                 f"Member must have length less than or equal to {_num(meta['max'])}", value))

    def _pattern(self, service: str, shape: Any) -> Any:
        key = (service, shape.name)
        if key in self._patterns:
            return self._patterns[key]
        source = shape.metadata["pattern"]
        try:
            rx: Any = re.compile(java_to_python(source), re.ASCII)
        except (re.error, ValueError) as exc:
            rx = None
            self.skipped_patterns[f"{service}:{shape.name}"] = f"{source} ({exc})"
        self._patterns[key] = rx
        return rx

    # ------------------------------------------------------------------ the answer
    def _respond(self, service: str, protocol: str, op: str, violations: list[Violation]) -> tuple[int, list[tuple[str, str]], bytes]:
        model = self.model(service)
        err = ERRORS[service]
        code, message = _message(err, violations, protocol)
        request_id = str(uuid.uuid4())
        if protocol == "json":
            if code == "SerializationException":
                type_name = code
            elif model.metadata.get("jsonVersion") == "1.0":
                type_name = f"com.amazon.coral.validate#{code}" if code == "ValidationException" else f"{model.metadata.get('targetPrefix')}#{code}"
            else:
                type_name = code
            body = json.dumps({"__type": type_name, "message": message}).encode()
            headers = [
                ("Content-Type", f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"),
                ("X-Amzn-Errortype", code),
                ("x-amzn-RequestId", request_id),
            ]
            if "awsQueryCompatible" in model.metadata:
                headers.append(("x-amzn-query-error", f"{code};Sender"))
        elif protocol == "ec2":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            ).encode()
            headers = [("Content-Type", "text/xml")]
        else:
            ns = model.metadata.get("xmlNamespace")
            body = (
                f'<ErrorResponse{f" xmlns={chr(34)}{ns}{chr(34)}" if ns else ""}><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
            headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
        headers.append(("Content-Length", str(len(body))))
        return 400, headers, body


def _message(err: dict[str, str], violations: list[Violation], protocol: str) -> tuple[str, str]:
    types = [v for v in violations if v.kind == "type"]
    if protocol == "json" and types:
        v = types[0]
        return "SerializationException", f"Unexpected value type at '{v.path}': {v.constraint[len('Member must be '):]}"
    if err["style"] == "ec2":
        missing = [v for v in violations if v.kind == "required"]
        if missing:
            return "MissingParameter", f"The request must contain the parameter {missing[0].wire}"
        v = violations[0]
        return "InvalidParameterValue", f"Value ({_render(v.value)}) for parameter {v.wire} is invalid. {v.constraint}"
    if err["style"] == "ecr":
        v = violations[0]
        if v.kind == "pattern":  # ECR's wording: 'must satisfy regular expression '<pattern>''
            c = f"must satisfy regular expression '{v.constraint.split(': ', 1)[1]}'"
        else:
            c = v.constraint[len("Member "):] if v.constraint.startswith("Member ") else v.constraint
        return err["code"], f"Invalid parameter at '{v.path}' failed to satisfy constraint: '{c}'"
    parts = [
        f"Value {'null' if v.value is None else repr_value(v.value)} at '{v.path}' failed to satisfy constraint: {v.constraint}"
        for v in violations
    ]
    n = len(parts)
    return err["code"], f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(parts)


def repr_value(value: Any) -> str:
    return f"'{_render(value)}'"


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _num(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _join(path: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{path}.{name}" if path else name


def _utf16_len(s: str) -> int:
    # Java counts UTF-16 code units; a code point above U+FFFF is two.
    return len(s) if s.isascii() else len(s.encode("utf-16-le")) // 2


def _tree(flat: dict[str, str]) -> dict[Any, Any]:
    """'A.member.1.B=x' -> {'A': {'member': {'1': {'B': {None: 'x'}}}}}; a node's own value under None."""
    root: dict[Any, Any] = {}
    for key, value in flat.items():
        node = root
        for seg in key.split("."):
            node = node.setdefault(seg, {})
        node[None] = value
    return root


def _client(environ: dict[str, Any]) -> str:
    ua = f"{environ.get('HTTP_USER_AGENT', '')} {environ.get('HTTP_X_AMZ_USER_AGENT', '')}"
    if EXPECTED_MARK in ua:
        return "expected"
    if "aws-sdk-js" in ua:
        return "aws-sdk-js"
    if "aws-cli" in ua:
        return "aws-cli"
    return "other"


class Stats:
    """Violations per operation (and member, and client): since the last reset, and since start / DELETE."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = self._empty()
        self.lifetime = self._empty()
        self.recent: list[dict[str, Any]] = []

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {"total": 0, "checked": 0, "seconds": 0.0, "slowest": {"operation": None, "seconds": 0.0},
                "byClient": {}, "operations": {}}

    def checked(self, service: str, op: str, seconds: float) -> None:
        with self.lock:
            for agg in (self.current, self.lifetime):
                agg["checked"] += 1
                agg["seconds"] += seconds
                if seconds > agg["slowest"]["seconds"]:
                    agg["slowest"] = {"operation": f"{service}:{op}", "seconds": seconds}

    def record(self, service: str, op: str, client: str, violations: list[Violation]) -> None:
        key = f"{service}:{op}"
        with self.lock:
            for agg in (self.current, self.lifetime):
                agg["total"] += 1
                agg["byClient"][client] = agg["byClient"].get(client, 0) + 1
                entry = agg["operations"].setdefault(key, {"count": 0, "members": {}, "clients": {}})
                entry["count"] += 1
                entry["clients"][client] = entry["clients"].get(client, 0) + 1
                for v in violations:
                    label = f"{v.member} ({v.kind})"
                    entry["members"][label] = entry["members"].get(label, 0) + 1
            self.recent.append({
                "operation": key, "client": client,
                "violations": [{"member": v.path, "wire": v.wire, "kind": v.kind, "constraint": v.constraint,
                                "value": _render(v.value) if v.value is not None else None} for v in violations],
            })
            del self.recent[:-50]

    def reset(self, lifetime: bool = False) -> None:
        with self.lock:
            self.current = self._empty()
            self.recent = []
            if lifetime:
                self.lifetime = self._empty()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({**self.current, "sinceStart": self.lifetime, "recent": self.recent}))
