"""EC2 rules AWS enforces and moto does not (README: "EC2 rules").

* DeleteSecurityGroup answers `DependencyViolation` while another group's rule references the group
  or a network interface uses it (config `sgDependencies`). Task ENIs outlive their task for
  `eniLingerSeconds` (World._delete_eni), as ECS detaches and deletes them some time after the task
  stopped.
* A just-created security group is not visible for `sgVisibilitySeconds`: AuthorizeSecurityGroup-
  Ingress/Egress on it or referencing it, and DescribeSecurityGroups naming it by id, answer
  `InvalidGroup.NotFound` (EC2's eventual consistency).
* NAT gateways take time (config `natPendingSeconds`, `natDeletingSeconds`): CreateNatGateway
  answers `pending` and the gateway becomes `available` later; DeleteNatGateway makes it `deleting`,
  then `deleted`, and only then gives up its network interface and Elastic IP. moto makes both at once.
* ReleaseAddress of an Elastic IP a NAT gateway still holds answers `AuthFailure` (config
  `natHoldsAddress`), as EC2 does until the gateway is deleted.
* DeleteSubnet answers `DependencyViolation` while a network interface is in the subnet (config
  `subnetDependencies`): a NAT gateway's until it is deleted, a stopped task's while it lingers.
* The default VPC has an attached internet gateway and a 0.0.0.0/0 route to it in its main route
  table, as AWS makes it (reach.py; moto's has neither). Every ENI has a private DNS name (moto's
  ECS tasks fail in a VPC without DNS hostnames otherwise).
"""

from __future__ import annotations

import time
from typing import Any

from moto.ec2.exceptions import DependencyViolationError, EC2ClientError, InvalidSecurityGroupNotFoundError
from moto.ec2.models import EC2Backend
from moto.ec2.responses import security_groups as sg_responses

from .world import LOCK, World


def apply(world: World) -> None:
    from moto.ec2.models import EC2Backend

    from . import reach

    orig_default_vpc = EC2Backend.create_default_vpc

    def create_default_vpc(self: Any) -> Any:
        # AWS's default VPC has an internet gateway and a 0.0.0.0/0 route to it (always; fidelity).
        vpc = orig_default_vpc(self)
        reach.add_default_vpc_internet_gateway(self, vpc)
        return vpc

    EC2Backend.create_default_vpc = create_default_vpc

    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import generate_dns_from_ip

    orig_eni_init = NetworkInterface.__init__

    def eni_init(self: Any, *args: Any, **kwargs: Any) -> None:
        # Every ENI has a private DNS name on AWS; moto sets one only when the VPC enables DNS
        # hostnames, and its ECS RunTask/CreateService then fails (AttributeError) in any other VPC.
        orig_eni_init(self, *args, **kwargs)
        if not getattr(self, "private_dns_name", None) and self.private_ip_address:
            self.private_dns_name = generate_dns_from_ip(self.private_ip_address)

    NetworkInterface.__init__ = eni_init

    Response = sg_responses.SecurityGroups

    def invisible(group_id: str | None) -> bool:
        if not group_id:
            return False
        created = world.sg_created.get(group_id)
        return created is not None and time.monotonic() - created < world.config["sgVisibilitySeconds"]

    orig_create = Response.create_security_group

    def create_security_group(self: Any) -> Any:
        with LOCK:
            result = orig_create(self)
            group = self.ec2_backend.get_security_group_from_name(self._get_param("GroupName"), self._get_param("VpcId"))
            if group is not None:
                world.sg_created[group.id] = time.monotonic()
            return result

    Response.create_security_group = create_security_group

    def authorize(orig: Any) -> Any:
        def wrapper(self: Any) -> Any:
            with LOCK:
                target = self._get_param("GroupId")
                if invisible(target):
                    raise InvalidSecurityGroupNotFoundError(target)
                for rule in self._process_rules_from_querystring():
                    for pair in rule.get("source_groups") or []:
                        if invisible(pair.get("GroupId")):
                            raise InvalidSecurityGroupNotFoundError(pair["GroupId"])
                return orig(self)

        return wrapper

    Response.authorize_security_group_ingress = authorize(Response.authorize_security_group_ingress)
    Response.authorize_security_group_egress = authorize(Response.authorize_security_group_egress)

    orig_describe = Response.describe_security_groups

    def describe_security_groups(self: Any) -> Any:
        with LOCK:
            for group_id in self._get_param("GroupIds", []) or []:
                if invisible(group_id):
                    raise InvalidSecurityGroupNotFoundError(group_id)
            return orig_describe(self)

    Response.describe_security_groups = describe_security_groups

    orig_delete = Response.delete_security_group

    def delete_security_group(self: Any) -> Any:
        with LOCK:
            if world.config.get("sgDependencies", True):
                backend = self.ec2_backend
                name, group_id = self._get_param("GroupName"), self._get_param("GroupId")
                group = backend.get_security_group_by_name_or_id(group_id or name) if (group_id or name) else None
                if group is not None and dependents(backend, group.id):
                    # EC2's answer (Query API error `DependencyViolation`).
                    raise DependencyViolationError(f"resource {group.id} has a dependent object")
            return orig_delete(self)

    Response.delete_security_group = delete_security_group
    apply_nat(world)


def apply_nat(world: World) -> None:
    """NAT gateway lifecycle, the Elastic IP it holds, and subnets holding network interfaces."""

    def advance(backend: Any) -> None:
        now = time.monotonic()
        for nat in list(backend.nat_gateways.values()):
            until = getattr(nat, "_pw_until", None)
            if until is None or now < until[1]:
                continue
            nat.state, nat._pw_until = until[0], None
            if nat.state == "deleted":
                release_nat(backend, nat)

    def release_nat(backend: Any, nat: Any) -> None:
        """A deleted gateway's interface goes, and its Elastic IP is free again."""
        eni = getattr(nat, "_eni", None)
        if eni is None:
            return
        for eip in backend.addresses:
            if eip.eni is eni:
                eip.eni, eip.instance, eip.association_id = None, None, None
        backend.enis.pop(eni.id, None)
        nat._eni = None

    orig_create = EC2Backend.create_nat_gateway

    def create_nat_gateway(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            nat = orig_create(self, *args, **kwargs)
            pending = float(world.config.get("natPendingSeconds", 0) or 0)
            if pending > 0:
                nat.state, nat._pw_until = "pending", ("available", time.monotonic() + pending)
            return nat

    EC2Backend.create_nat_gateway = create_nat_gateway
    orig_delete_nat = EC2Backend.delete_nat_gateway

    def delete_nat_gateway(self: Any, nat_gateway_id: str) -> Any:
        with LOCK:
            advance(self)
            nat = self.nat_gateways.get(nat_gateway_id)
            if nat is None:
                return orig_delete_nat(self, nat_gateway_id)
            if nat.state in ("deleting", "deleted"):
                return nat
            deleting = float(world.config.get("natDeletingSeconds", 0) or 0)
            if deleting > 0:
                nat.state, nat._pw_until = "deleting", ("deleted", time.monotonic() + deleting)
                return nat
            nat.state, nat._pw_until = "deleted", None
            release_nat(self, nat)
            return nat

    EC2Backend.delete_nat_gateway = delete_nat_gateway

    orig_describe = EC2Backend.describe_nat_gateways

    def describe_nat_gateways(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            advance(self)
            return orig_describe(self, *args, **kwargs)

    EC2Backend.describe_nat_gateways = describe_nat_gateways

    orig_release = EC2Backend.release_address

    def release_address(self: Any, address: str | None = None, allocation_id: str | None = None) -> Any:
        with LOCK:
            advance(self)
            if world.config.get("natHoldsAddress", True):
                for nat in self.nat_gateways.values():
                    held = [a.get("allocationId") for a in nat.address_set]
                    if nat.state != "deleted" and allocation_id and allocation_id in held:
                        # EC2's answer while a NAT gateway holds the address (eformat/sno-for-100 #5, kops #1604).
                        raise EC2ClientError("AuthFailure", "You do not have permission to access the specified resource.")
            return orig_release(self, address=address, allocation_id=allocation_id)

    EC2Backend.release_address = release_address

    orig_delete_subnet = EC2Backend.delete_subnet

    def delete_subnet(self: Any, subnet_id: str) -> Any:
        with LOCK:
            advance(self)
            if world.config.get("subnetDependencies", True):
                if any(getattr(eni.subnet, "id", None) == subnet_id for eni in self.enis.values()):
                    raise DependencyViolationError(
                        f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
                    )
            return orig_delete_subnet(self, subnet_id)

    EC2Backend.delete_subnet = delete_subnet


def dependents(backend: Any, group_id: str) -> list[str]:
    """What keeps `group_id` from being deleted: other groups whose rules name it, ENIs using it."""
    found: list[str] = []
    for groups in backend.groups.values():
        for g in groups.values():
            if g.id == group_id:
                continue  # a group's rules may name the group itself
            for rule in [*g.ingress_rules, *g.egress_rules]:
                if (rule.source_group or {}).get("GroupId") == group_id:
                    found.append(g.id)
                    break
    for eni in backend.enis.values():
        if any(getattr(g, "id", None) == group_id for g in eni.group_set):
            found.append(eni.id)
    return found
