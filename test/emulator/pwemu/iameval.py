"""IAM evaluation (README: "IAM evaluation"; config `evaluateIam`).

A request signed with the access key of an IAM user of the emulated account is authorised against
that user's identity-based policies -- inline, attached managed, and its groups' inline and attached
ones -- as IAM's policy evaluation logic does for one account: an explicit Deny wins, else an Allow
is needed, else it is implicitly denied. Each request is turned into the authorisations AWS makes
for it (an action, the resource ARNs it acts on, the request's context keys), following the Service
Authorization Reference; `iam:PassRole` is checked where the call passes a role (ECS
RegisterTaskDefinition's taskRoleArn/executionRoleArn, RunTask overrides, CreateService's `role`),
and `ecs:TagResource` where an ECS create carries tags (ECS "Grant permission to tag resources on
creation"). Requests signed with any other key (the harness's test credentials) are not evaluated.

A refused request never reaches moto; it is answered as the service answers it: AccessDeniedException
(JSON services), AccessDenied (query: ELBv2, IAM, STS; CloudWatch), UnauthorizedOperation (EC2), with
IAM's message `User: <arn> is not authorized to perform: <action> on resource: <arn> because no
identity-based policy allows the <action> action` (or `with an explicit deny in an identity-based
policy`).

The same evaluator serves the world's own checks for a role (the task execution role resolving a
task's secrets: world.py).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Iterable
from urllib.parse import unquote
from xml.sax.saxutils import escape

# botocore service name -> the IAM service prefix of its actions
PREFIX = {
    "ecs": "ecs",
    "ecr": "ecr",
    "logs": "logs",
    "dynamodb": "dynamodb",
    "ssm": "ssm",
    "secretsmanager": "secretsmanager",
    "acm": "acm",
    "application-autoscaling": "application-autoscaling",
    "cloudwatch": "cloudwatch",
    "elbv2": "elasticloadbalancing",
    "iam": "iam",
    "sts": "sts",
    "ec2": "ec2",
}
# Calls IAM does not authorise (STS GetCallerIdentity: "No permissions are required").
UNAUTHORISED_CALLS = {("sts", "GetCallerIdentity")}

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")

Authz = tuple[str, str, dict[str, Any]]  # (action, resource ARN, context keys)


# ---------------------------------------------------------------------------------------- identities
class Principal:
    def __init__(self, arn: str, account: str, documents: list[dict[str, Any]]):
        self.arn = arn
        self.account = account
        self.documents = documents


def _document(policy: Any) -> dict[str, Any] | None:
    """A policy (moto's managed Policy, or an inline {policy_document}) → its JSON document."""
    raw: Any
    if hasattr(policy, "versions"):
        version = next((v for v in policy.versions if v.is_default), None)
        raw = version.document if version is not None else None
    elif isinstance(policy, dict):
        raw = policy.get("policy_document")
    else:
        raw = policy
    if raw is None:
        return None
    if isinstance(raw, dict):
        return raw
    text = str(raw)
    try:
        return json.loads(text)
    except ValueError:
        try:
            return json.loads(unquote(text))
        except ValueError:
            return None


def user_for_key(access_key_id: str) -> Principal | None:
    """The IAM user of this world whose access key this is, with its policies; None for any other key."""
    from moto.iam.access_control import CreateAccessKeyFailure, IAMUserAccessKey
    from moto.iam.models import iam_backends

    for account in list(iam_backends.keys()):
        backend = iam_backends[account].get("aws") if hasattr(iam_backends[account], "get") else None
        if backend is None or not backend.users:
            continue
        try:
            key = IAMUserAccessKey(account, "aws", access_key_id, {})
        except CreateAccessKeyFailure:
            continue
        docs = [d for d in (_document(p) for p in key.collect_policies()) if d]
        return Principal(key.arn, account, docs)
    return None


def role_principal(account: str, role_arn: str, session: str) -> Principal | None:
    """A role of this world as the principal of an assumed-role session (its inline + attached policies)."""
    from moto.iam.models import iam_backends

    try:
        iam = iam_backends[account]["aws"]
        role = iam.get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - not a role of this world
        return None
    docs: list[dict[str, Any]] = []
    for doc in (getattr(role, "policies", None) or {}).values():
        d = _document({"policy_document": doc})
        if d:
            docs.append(d)
    for policy in (getattr(role, "managed_policies", None) or {}).values():
        d = _document(policy)
        if d:
            docs.append(d)
    return Principal(f"arn:aws:sts::{account}:assumed-role/{role.name}/{session}", account, docs)


# ---------------------------------------------------------------------------------------- evaluation
def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _list(x: Any) -> list[Any]:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)  # ForAnyValue / ForAllValues
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    # Context keys are case-insensitive (IAM User Guide, "IAM JSON policy elements: Condition").
    actual_raw = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    wanted = [str(v) for v in _list(expected)]
    if operator == "Null":
        is_null = actual_raw is None
        return any((w.lower() == "true") == is_null for w in wanted)
    if actual_raw is None:
        # A missing key: the negated operators hold, the others do not (unless ...IfExists).
        return if_exists or operator.startswith(("StringNot", "ArnNot")) or qualifier == "ForAllValues"
    actual = [str(v) for v in _list(actual_raw)]

    def one(value: str) -> bool:
        if operator in ("StringEquals", "ArnEquals"):
            return value in wanted
        if operator == "StringEqualsIgnoreCase":
            return value.lower() in (w.lower() for w in wanted)
        if operator in ("StringLike", "ArnLike"):
            return any(_glob(w, value) for w in wanted)
        if operator in ("StringNotEquals", "ArnNotEquals"):
            return value not in wanted
        if operator == "StringNotEqualsIgnoreCase":
            return value.lower() not in (w.lower() for w in wanted)
        if operator in ("StringNotLike", "ArnNotLike"):
            return not any(_glob(w, value) for w in wanted)
        if operator == "Bool":
            return value.lower() in (w.lower() for w in wanted)
        raise KeyError(operator)

    try:
        if qualifier == "ForAllValues":
            return all(one(v) for v in actual)
        return any(one(v) for v in actual)
    except KeyError:
        return False  # an operator this evaluator does not know: the statement does not apply


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]) -> bool:
    if "Action" in statement:
        if not any(_glob(a, action, ignore_case=True) for a in _list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_glob(a, action, ignore_case=True) for a in _list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(_glob(r, resource) for r in _list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_glob(r, resource) for r in _list(statement["NotResource"])):
            return False
    else:
        return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in (pairs or {}).items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def decide(documents: Iterable[dict[str, Any]], action: str, resource: str, context: dict[str, Any]) -> str:
    """'allow', 'explicit' (an explicit Deny) or 'implicit' (no Allow)."""
    allowed = False
    for doc in documents:
        for statement in _list(doc.get("Statement")):
            if not isinstance(statement, dict) or not _applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return "explicit"
            if statement.get("Effect") == "Allow":
                allowed = True
    return "allow" if allowed else "implicit"


def denial_message(principal_arn: str, action: str, resource: str, how: str) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if how == "explicit"
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}"


def first_denial(principal: Principal, authz: Iterable[Authz]) -> str | None:
    for action, resource, context in authz:
        how = decide(principal.documents, action, resource, context)
        if how != "allow":
            return denial_message(principal.arn, action, resource, how)
    return None


# ---------------------------------------------------------------------------------------- requests → authorisations
def _name(x: Any) -> str:
    """A name or an ARN → the last path element (`cluster/x` → `x`)."""
    s = str(x or "")
    return s.rsplit("/", 1)[-1] if s.startswith("arn:") else s


class Request:
    def __init__(self, service: str, op: str, params: dict[str, Any], region: str, account: str):
        self.service, self.op, self.params, self.region, self.account = service, op, params, region, account

    def get(self, *names: str) -> Any:
        for n in names:
            if n in self.params and self.params[n] not in (None, ""):
                return self.params[n]
        return None

    def members(self, name: str) -> list[str]:
        """A list parameter: JSON list, or query `Name.member.N` / EC2 `Name.N`."""
        v = self.params.get(name)
        if isinstance(v, list):
            return [str(x) for x in v]
        out: list[tuple[int, str]] = []
        for k, val in self.params.items():
            m = re.fullmatch(re.escape(name) + r"\.(?:member\.)?(\d+)", k)
            if m:
                out.append((int(m.group(1)), str(val)))
        return [v for _, v in sorted(out)]

    def arn(self, service: str, rest: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account}:{rest}"


def authorisations(req: Request) -> list[Authz]:
    """What IAM authorises for this request: one (action, resource, context) per resource, plus PassRole/tagging."""
    prefix = PREFIX[req.service]
    action = f"{prefix}:{req.op}"
    build = _BUILDERS.get(req.service)
    found = build(req, action) if build else None
    return found if found is not None else [(action, "*", {})]


def _ecs(req: Request, action: str) -> list[Authz]:
    op = req.op
    cluster = _name(req.get("cluster") or req.get("clusterName") or "default")
    cluster_arn = req.arn("ecs", f"cluster/{cluster}")
    ctx = {"ecs:cluster": cluster_arn}
    out: list[Authz] = []
    if op in ("CreateCluster", "DeleteCluster", "UpdateClusterSettings", "PutClusterCapacityProviders", "UpdateCluster"):
        out.append((action, cluster_arn, {}))
    elif op == "DescribeClusters":
        out += [(action, req.arn("ecs", f"cluster/{_name(c)}"), {}) for c in (req.get("clusters") or ["default"])]
    elif op in ("CreateService", "UpdateService", "DeleteService"):
        out.append((action, req.arn("ecs", f"service/{cluster}/{_name(req.get('serviceName', 'service'))}"), ctx))
    elif op == "DescribeServices":
        out += [(action, req.arn("ecs", f"service/{cluster}/{_name(s)}"), ctx) for s in (req.get("services") or [])]
    elif op in ("DescribeTasks", "StopTask"):
        tasks = req.get("tasks") or ([req.get("task")] if req.get("task") else [])
        out += [(action, req.arn("ecs", f"task/{cluster}/{_name(t)}"), ctx) for t in tasks]
    elif op in ("ListTasks", "ListServices"):
        out.append((action, "*", ctx))
    elif op in ("TagResource", "UntagResource", "ListTagsForResource"):
        out.append((action, str(req.get("resourceArn") or "*"), {}))
    elif op == "RunTask":
        td = str(req.get("taskDefinition") or "")
        td_arn = td if td.startswith("arn:") else req.arn("ecs", f"task-definition/{td if ':' in td else td + ':*'}")
        out.append((action, td_arn, ctx))
    else:
        out.append((action, "*", {}))
    # Passing a role (IAM User Guide, "Grant a user permissions to pass a role to an AWS service";
    # Service Authorization Reference, ECS: RegisterTaskDefinition's dependent action iam:PassRole).
    roles: list[tuple[str, str]] = []
    if op == "RegisterTaskDefinition":
        roles += [(str(req.get(k)), "ecs-tasks.amazonaws.com") for k in ("taskRoleArn", "executionRoleArn") if req.get(k)]
    elif op == "RunTask":
        overrides = req.get("overrides") or {}
        roles += [(str(overrides[k]), "ecs-tasks.amazonaws.com") for k in ("taskRoleArn", "executionRoleArn") if overrides.get(k)]
    elif op == "CreateService" and req.get("role"):
        roles.append((str(req.get("role")), "ecs.amazonaws.com"))
    if op in ("CreateService", "UpdateService"):
        # Blue/green: the infrastructure role for the load balancers and the lifecycle hooks' roles are
        # passed to ECS (ECS Developer Guide, "Amazon ECS infrastructure IAM role for load balancers").
        for lb in req.get("loadBalancers") or []:
            role = (lb.get("advancedConfiguration") or {}).get("roleArn") if isinstance(lb, dict) else None
            if role:
                roles.append((str(role), "ecs.amazonaws.com"))
        for hook in (req.get("deploymentConfiguration") or {}).get("lifecycleHooks") or []:
            if isinstance(hook, dict) and hook.get("roleArn"):
                roles.append((str(hook["roleArn"]), "ecs.amazonaws.com"))
    for role, to in roles:
        role_arn = role if role.startswith("arn:") else f"arn:aws:iam::{req.account}:role/{role}"
        out.append(("iam:PassRole", role_arn, {"iam:PassedToService": to}))
    # Tags on create need ecs:TagResource with ecs:CreateAction (ECS Developer Guide, "Grant permission
    # to tag resources on creation").
    if op in ("CreateCluster", "CreateService", "RegisterTaskDefinition", "RunTask") and req.get("tags"):
        if op == "RegisterTaskDefinition":
            family = str(req.get("family") or "")
            target = req.arn("ecs", f"task-definition/{family}:{_next_revision(req, family)}")
        elif op == "CreateService":
            target = out[0][1]
        elif op == "CreateCluster":
            target = cluster_arn
        else:
            target = req.arn("ecs", f"task/{cluster}/*")
        out.append(("ecs:TagResource", target, {"ecs:CreateAction": op}))
    return out


def _next_revision(req: Request, family: str) -> int:
    try:
        from moto.ecs.models import ecs_backends

        return len(ecs_backends[req.account][req.region].task_definitions.get(family, {})) + 1
    except Exception:  # noqa: BLE001
        return 1


def _ecr(req: Request, action: str) -> list[Authz] | None:
    if req.op == "GetAuthorizationToken":
        return [(action, "*", {})]
    if req.op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [(action, str(req.get("resourceArn") or "*"), {})]
    if req.op == "DescribeRepositories":
        names = req.get("repositoryNames") or []
        if not names:
            return [(action, req.arn("ecr", "repository/*"), {})]
        return [(action, req.arn("ecr", f"repository/{n}"), {}) for n in names]
    name = req.get("repositoryName")
    return [(action, req.arn("ecr", f"repository/{name}"), {})] if name else None


# TransactWriteItems is authorised item by item as the write it makes (DynamoDB Developer Guide,
# "Using IAM with DynamoDB transactions": PutItem, UpdateItem, DeleteItem, ConditionCheckItem).
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _dynamodb(req: Request, action: str) -> list[Authz] | None:
    if req.op in ("TagResource", "UntagResource", "ListTagsOfResource"):
        return [(action, str(req.get("ResourceArn") or "*"), {})]
    if req.op in ("TransactWriteItems", "TransactGetItems"):
        out: list[Authz] = []
        for item in req.get("TransactItems") or []:
            for kind, body in (item or {}).items():
                op = "GetItem" if kind == "Get" else _TRANSACT_ACTIONS.get(kind)
                if op and isinstance(body, dict) and body.get("TableName"):
                    out.append((f"dynamodb:{op}", req.arn("dynamodb", f"table/{body['TableName']}"), {}))
        return out or None
    table = req.get("TableName")
    if not table:
        return None
    rest = f"table/{table}" + (f"/index/{req.get('IndexName')}" if req.get("IndexName") else "")
    return [(action, req.arn("dynamodb", rest), {})]


def _logs(req: Request, action: str) -> list[Authz] | None:
    if req.op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [(action, str(req.get("resourceArn") or "*"), {})]
    if req.op == "DescribeLogGroups":
        return [(action, req.arn("logs", "log-group:*"), {})]
    name = req.get("logGroupName")
    if not name:
        return None
    stream = req.get("logStreamName")
    rest = f"log-group:{name}:log-stream:{stream}" if stream else f"log-group:{name}:*"
    return [(action, req.arn("logs", rest), {})]


def _cloudwatch(req: Request, action: str) -> list[Authz] | None:
    if req.op == "PutMetricAlarm":
        return [(action, req.arn("cloudwatch", f"alarm:{req.get('AlarmName')}"), {})]
    if req.op == "DeleteAlarms":
        return [(action, req.arn("cloudwatch", f"alarm:{n}"), {}) for n in req.members("AlarmNames")]
    if req.op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [(action, str(req.get("ResourceARN") or "*"), {})]
    return None


def _iam(req: Request, action: str) -> list[Authz] | None:
    if req.op == "CreateServiceLinkedRole":
        from .iamrules import SLR_NAMES

        service = str(req.get("AWSServiceName") or "")
        name = SLR_NAMES.get(service, f"AWSServiceRoleFor{service.split('.')[0]}")
        return [(action, f"arn:aws:iam::{req.account}:role/aws-service-role/{service}/{name}", {"iam:AWSServiceName": service})]
    role = req.get("RoleName")
    if not role:
        return None
    path = str(req.get("Path") or "") if req.op == "CreateRole" else _role_path(req.account, str(role))
    return [(action, f"arn:aws:iam::{req.account}:role{path or '/'}{role}", {})]


def _role_path(account: str, name: str) -> str:
    try:
        from moto.iam.models import iam_backends

        return str(iam_backends[account]["aws"].get_role(name).path or "/")
    except Exception:  # noqa: BLE001 - no such role (yet): its ARN without a path
        return "/"


def _elbv2(req: Request, action: str) -> list[Authz] | None:
    if req.op == "CreateLoadBalancer":
        return [(action, req.arn("elasticloadbalancing", f"loadbalancer/app/{req.get('Name')}/*"), {})]
    if req.op == "CreateTargetGroup":
        return [(action, req.arn("elasticloadbalancing", f"targetgroup/{req.get('Name')}/*"), {})]
    if req.op.startswith("Describe"):
        return [(action, "*", {})]
    if req.op in ("AddTags", "RemoveTags"):
        return [(action, a, {}) for a in req.members("ResourceArns")] or None
    if req.op == "SetRulePriorities":
        arns = [v for k, v in req.params.items() if re.fullmatch(r"RulePriorities\.member\.\d+\.RuleArn", k)]
        return [(action, str(a), {}) for a in arns] or None
    if req.op == "CreateListener":
        lb = str(req.get("LoadBalancerArn") or "")
        return [(action, lb.replace(":loadbalancer/", ":listener/") + "/*", {})] if lb else None
    if req.op == "CreateRule":
        listener = str(req.get("ListenerArn") or "")
        return [(action, listener.replace(":listener/", ":listener-rule/") + "/*", {})] if listener else None
    arn = req.get("RuleArn", "ListenerArn", "TargetGroupArn", "LoadBalancerArn")
    return [(action, str(arn), {})] if arn else None


def _ssm(req: Request, action: str) -> list[Authz] | None:
    names = [req.get("Name")] if req.get("Name") else req.members("Names")
    if not names:
        return None
    return [(action, req.arn("ssm", "parameter/" + str(n).lstrip("/")), {}) for n in names]


def _secretsmanager(req: Request, action: str) -> list[Authz] | None:
    secret = req.get("SecretId")
    return [(action, secret_arn(req.account, req.region, str(secret)), {})] if secret else None


def secret_arn(account: str, region: str, secret_id: str) -> str:
    """The ARN IAM evaluates: the secret's own full ARN (a partial ARN or a name resolved to it, as
    Secrets Manager does; a JSON-key/version suffix dropped)."""
    if secret_id.startswith("arn:"):
        secret_id = ":".join(secret_id.split(":")[:7])
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        return str(secretsmanager_backends[account][region].describe_secret(secret_id).arn)
    except Exception:  # noqa: BLE001
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


def _acm(req: Request, action: str) -> list[Authz] | None:
    arn = req.get("CertificateArn")
    return [(action, str(arn), {})] if arn else None


_BUILDERS = {
    "ecs": _ecs,
    "ecr": _ecr,
    "dynamodb": _dynamodb,
    "logs": _logs,
    "cloudwatch": _cloudwatch,
    "iam": _iam,
    "elbv2": _elbv2,
    "ssm": _ssm,
    "secretsmanager": _secretsmanager,
    "acm": _acm,
}


# ---------------------------------------------------------------------------------------- the request hook
def access_key(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(access key id, region) of a SigV4-signed request."""
    m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (m.group(1), m.group(2)) if m else None


def check(environ: dict[str, Any], service: str, protocol: str, op: str, params: dict[str, Any],
          model_metadata: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """None when the request may go on, else the service's access-denied answer."""
    found = access_key(environ)
    if found is None or (service, op) in UNAUTHORISED_CALLS or service not in PREFIX:
        return None
    key, region = found
    principal = user_for_key(key)
    if principal is None:
        return None
    message = first_denial(principal, authorisations(Request(service, op, params, region, principal.account)))
    if message is None:
        return None
    return respond(service, protocol, message, model_metadata)


def respond(service: str, protocol: str, message: str, meta: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    if protocol == "json":
        query_compatible = "awsQueryCompatible" in meta
        code = "AccessDenied" if query_compatible else "AccessDeniedException"
        type_name = f"com.amazon.coral.service#{code}" if meta.get("jsonVersion") == "1.0" and not query_compatible else code
        body = json.dumps({"__type": type_name, "message": message, "Message": message}).encode()
        headers = [
            ("Content-Type", f"application/x-amz-json-{meta.get('jsonVersion', '1.1')}"),
            ("X-Amzn-Errortype", code),
            ("x-amzn-RequestId", request_id),
        ]
        if query_compatible:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
        status = 400
    elif protocol == "ec2":
        text = f"You are not authorized to perform this operation. {message}"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>{escape(text)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
        status = 403
    else:
        ns = meta.get("xmlNamespace")
        body = (
            f'<ErrorResponse{f" xmlns={chr(34)}{ns}{chr(34)}" if ns else ""}><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
        status = 403
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


# ---------------------------------------------------------------------------------------- the task execution role
def execution_role_denial(account: str, region: str, role_arn: str | None, value_from: str, task_id: str) -> str | None:
    """Why the execution role may not read this secret/parameter (ECS's stop reason text), else None.
    Only roles of this world are evaluated (a task definition without one is left to the secret look-up)."""
    if not role_arn:
        return None
    principal = role_principal(account, role_arn, task_id)
    if principal is None:
        return None
    authz: list[Authz] = []
    if ":secretsmanager:" in value_from:
        arn = secret_arn(account, region, value_from)
        authz.append(("secretsmanager:GetSecretValue", arn, {}))
        key = _secret_kms_key(account, region, arn)
        via = f"secretsmanager.{region}.amazonaws.com"
        where = "asm"
    else:
        name = value_from.split(":parameter", 1)[1] if ":parameter" in value_from else value_from
        arn = f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
        authz.append(("ssm:GetParameters", arn, {}))
        key = _parameter_kms_key(account, region, value_from)
        via = f"ssm.{region}.amazonaws.com"
        where = "ssm"
    if key:
        authz.append(("kms:Decrypt", key, {"kms:ViaService": via}))
    denied = first_denial(principal, authz)
    if denied is None:
        return None
    return f"unable to retrieve secrets from {where}: service call has been retried 1 time(s): AccessDeniedException: {denied}"


def _kms_key_arn(account: str, region: str, key_id: str | None) -> str | None:
    """A customer managed key's ARN; None for none or the AWS managed key (aws/secretsmanager, aws/ssm)."""
    if not key_id or key_id.startswith("alias/aws/") or ":alias/aws/" in key_id:
        return None
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    try:
        from moto.kms.models import kms_backends

        return str(kms_backends[account][region].describe_key(key_id).arn)
    except Exception:  # noqa: BLE001
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def _secret_kms_key(account: str, region: str, arn: str) -> str | None:
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[account][region].describe_secret(arn)
        return _kms_key_arn(account, region, getattr(secret, "kms_key_id", None))
    except Exception:  # noqa: BLE001
        return None


def _parameter_kms_key(account: str, region: str, ref: str) -> str | None:
    try:
        from moto.ssm.models import ssm_backends

        param = ssm_backends[account][region].get_parameter(ref)
        if param is None or param.type != "SecureString":
            return None
        return _kms_key_arn(account, region, getattr(param, "keyid", None))
    except Exception:  # noqa: BLE001
        return None
