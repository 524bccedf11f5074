"""Can a Fargate task reach what it needs from where it runs? (README: "Rules AWS enforces", `networkReachability`)

AWS (ECS Developer Guide, *Amazon ECS stopped tasks errors* / *CannotPullContainer task errors*;
*Amazon ECS interface VPC endpoints (AWS PrivateLink)*; re:Post knowledge center *ECS Fargate pull
container error* and *Fargate docker timeout error*): a task in awsvpc mode reaches the registry,
CloudWatch Logs, SSM and Secrets Manager through its subnet's route table (the subnet's explicit
association, else the VPC's main route table):

* `assignPublicIp: ENABLED` and a default route (0.0.0.0/0) to an internet gateway, or
* a default route to a NAT gateway (state `available`), or
* VPC endpoints in the task's VPC: interface endpoints `com.amazonaws.<region>.ecr.api` and
  `ecr.dkr` plus the S3 gateway endpoint on the subnet's route table (image layers live in S3) for
  an ECR image; `logs` for the awslogs driver; `ssm` / `secretsmanager` for the secrets it uses.

Without a way out the task stops before any container starts: the agent's request times out
(`dial tcp …: i/o timeout`), `stopCode: TaskFailedToStart`. The image still comes from the
loopback registry (which stands for ECR here); only the decision follows the network.
"""

from __future__ import annotations

from typing import Any


def _ec2(account: str, region: str) -> Any:
    from moto.ec2 import ec2_backends

    return ec2_backends[account][region]


def route_table_for(ec2: Any, subnet: Any) -> Any | None:
    """The subnet's route table: its explicit association, else its VPC's main route table."""
    tables = list(ec2.route_tables.values())
    for rt in tables:
        if subnet.id in rt._associations.values():
            return rt
    return next((rt for rt in tables if rt.vpc_id == subnet.vpc_id and rt.main_association_id is not None), None)


def default_route(rt: Any | None) -> tuple[str, str]:
    """(kind, id) of the 0.0.0.0/0 route's target: ("igw", id), ("nat", id) or ("", "")."""
    if rt is None:
        return "", ""
    for route in rt.routes:
        if route.destination_cidr_block != "0.0.0.0/0":
            continue
        gw = getattr(route, "gateway", None)
        if gw is not None and str(getattr(gw, "id", "")).startswith("igw-"):
            return "igw", gw.id
        nat = getattr(route, "nat_gateway", None)
        if nat is not None and getattr(nat, "state", "available") == "available":
            return "nat", nat.id
    return "", ""


def _endpoints(ec2: Any, vpc_id: str, region: str, rt: Any | None) -> set[str]:
    """Short service names (ecr.api, ecr.dkr, logs, ssm, secretsmanager, s3) the VPC has usable endpoints for."""
    found: set[str] = set()
    prefix = f"com.amazonaws.{region}."
    for ep in ec2.vpc_end_points.values():
        if ep.vpc_id != vpc_id or getattr(ep, "state", "available") != "available":
            continue
        name = str(ep.service_name or "")
        if not name.startswith(prefix):
            continue
        short = name[len(prefix):]
        kind = str(ep.vpc_endpoint_type or "Gateway").lower()
        if kind == "gateway":
            # A gateway endpoint serves the route tables it is associated with.
            if rt is not None and rt.id in (ep.route_table_ids or []):
                found.add(short)
        elif ep.private_dns_enabled is not False:
            # An interface endpoint answers the service's own name only with private DNS.
            found.add(short)
    return found


def _secret_service(value_from: str) -> str:
    if value_from.startswith("arn:") and ":secretsmanager:" in value_from:
        return "secretsmanager"
    return "ssm"


def needs(containers: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """What the task must reach, in the order Fargate meets it: ("secrets", service), ("image", ref), ("logs", region)."""
    out: list[tuple[str, Any]] = []
    services = sorted({_secret_service(str(s.get("valueFrom", ""))) for c in containers for s in c.get("secrets") or []})
    out += [("secrets", s) for s in services]
    out += [("image", c.get("image", "")) for c in containers]
    for c in containers:
        lc = c.get("logConfiguration") or {}
        if lc.get("logDriver") == "awslogs":
            out.append(("logs", (lc.get("options") or {}).get("awslogs-region")))
            break
    return out


def _registry_host(image: str) -> tuple[str, str, str]:
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "registry-1.docker.io", image if "/" in image else f"library/{image}"
    if "@" in rest:
        repo, ref = rest.split("@", 1)
    elif ":" in rest.rsplit("/", 1)[-1]:
        repo, _, ref = rest.rpartition(":")
    else:
        repo, ref = rest, "latest"
    return first, repo, ref


def egress_error(
    account: str,
    region: str,
    network_configuration: dict[str, Any] | None,
    subnet_id: str | None,
    containers: list[dict[str, Any]],
    is_ecr_image: Any,
) -> str:
    """The stoppedReason of a task that cannot reach what it needs from its subnet, or "" when it can.

    `is_ecr_image(ref)`: whether the image is served by ECR (ECR endpoints suffice); other images need the internet.
    """
    conf = (network_configuration or {}).get("awsvpcConfiguration")
    if not conf:
        return ""  # not awsvpc: not modelled
    subnet_id = subnet_id or next(iter(conf.get("subnets") or []), None)
    if not subnet_id:
        return ""
    ec2 = _ec2(account, region)
    try:
        subnet = ec2.get_subnet(subnet_id)
    except Exception:  # noqa: BLE001 - an unknown subnet: nothing to decide on
        return ""
    rt = route_table_for(ec2, subnet)
    kind, _target = default_route(rt)
    public_ip = str(conf.get("assignPublicIp", "DISABLED")).upper() == "ENABLED"
    internet = kind == "nat" or (kind == "igw" and public_ip)
    if internet:
        return ""
    have = _endpoints(ec2, subnet.vpc_id, region, rt)
    # The service's address: a documentation address (RFC 5737) stands for it; nothing is dialled.
    where = "dial tcp 203.0.113.10:443: i/o timeout"
    for what, arg in needs(containers):
        if what == "secrets" and arg not in have:
            agent = "ssm" if arg == "ssm" else "asm"
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
                f"failed: unable to retrieve secrets from {agent}: service call has been retried 5 time(s): RequestError: "
                f'send request failed caused by: Post "https://{arg}.{region}.amazonaws.com/": {where}'
            )
        if what == "image" and arg:
            host, repo, ref = _registry_host(arg)
            if is_ecr_image(arg) and {"ecr.api", "ecr.dkr"} <= have:
                if "s3" in have:
                    continue
                return (
                    f"CannotPullContainerError: ref pull has been retried 5 time(s): failed to copy: httpReadSeeker: "
                    f'failed open: failed to do request: Get "https://prod-{region}-starport-layer-bucket.s3.{region}.'
                    f'amazonaws.com/{repo}/layer": {where}'
                )
            return (
                f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
                f'{arg}: failed to do request: Head "https://{host}/v2/{repo}/manifests/{ref}": {where}'
            )
        if what == "logs" and "logs" not in have:
            logs_region = arg or region
            return (
                "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
                "failed to create Cloudwatch log stream: RequestError: send request failed caused by: Post "
                f'"https://logs.{logs_region}.amazonaws.com/": {where} : exit status 1'
            )
    return ""


def add_default_vpc_internet_gateway(ec2: Any, vpc: Any) -> None:
    """AWS's default VPC comes with an attached internet gateway and a 0.0.0.0/0 route to it in its main
    route table (VPC User Guide, *Default VPCs*: "Create an internet gateway and connect it to your default
    VPC"; "Add a route to the main route table that points all traffic (0.0.0.0/0) to the internet
    gateway"). moto's default VPC has neither."""
    igw = ec2.create_internet_gateway()
    ec2.attach_internet_gateway(igw.id, vpc.id)
    main = next((rt for rt in ec2.route_tables.values() if rt.vpc_id == vpc.id and rt.main_association_id), None)
    if main is not None:
        ec2.create_route(main.id, "0.0.0.0/0", gateway_id=igw.id)
