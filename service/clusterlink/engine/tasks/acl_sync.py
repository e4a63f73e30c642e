"""The ACL sync task: source ACLs onto the destination, with the link's topic prefix.

Every run asks the source broker for the ACLs each of `acl.filters` matches
(DescribeAcls: the broker applies Kafka's own filter rules), puts the link's
prefix before TOPIC resource names, and compares with the destination's
ACLs and with the ones this link created (the store's link_acls rows):
- a wanted ACL missing on the destination is recorded as the link's, then
  created (recorded first: a crash in between leaves an ACL the link still
  knows it owns, never one it forgot);
- an ACL the link created that is no longer wanted is deleted, then its row;
- an ACL on the destination that the link did not create is never touched,
  even when it equals a wanted one.

`plan` and `translate` are pure; `AclSync.run` does the admin calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from dataclasses import astuple, dataclass, replace

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from clusterlink.config.filters import AclFilter
from clusterlink.engine.tasks.errors import ADMIN_ERRORS, SideError

TASK_NAME = "AclSync"
# Kafka names the cluster resource CLUSTER; librdkafka's enum calls it BROKER.
_TO_KAFKA = {"BROKER": "CLUSTER"}
_FROM_KAFKA = {"CLUSTER": "BROKER"}


@dataclass(frozen=True, order=True)
class Binding:
    """One ACL binding, with Kafka's names for its enums."""

    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission_type: str

    def __str__(self) -> str:
        return (f"{self.permission_type} {self.principal} {self.operation} on {self.resource_type} "
                f"{self.pattern_type} {self.resource_name!r} from {self.host}")


def translate(binding: Binding, prefix: str) -> Binding:
    """The destination's binding for a source binding: TOPIC names get the prefix."""
    if binding.resource_type != "TOPIC" or not prefix:
        return binding
    if binding.pattern_type == "LITERAL" and binding.resource_name == "*":
        # Every topic on the source: every mirror topic (of this prefix) on the destination.
        return replace(binding, resource_name=prefix, pattern_type="PREFIXED")
    return replace(binding, resource_name=prefix + binding.resource_name)


@dataclass(frozen=True)
class Plan:
    create: frozenset[Binding]    # record as the link's, then create
    delete: frozenset[Binding]    # the link's, no longer wanted: delete, then forget
    forget: frozenset[Binding]    # the link's, no longer wanted, already gone: forget


def plan(source: Iterable[Binding], destination: Iterable[Binding], managed: Iterable[Binding],
         prefix: str) -> Plan:
    wanted = {translate(b, prefix) for b in source}
    present, ours = set(destination), set(managed)
    gone = ours - wanted
    return Plan(create=frozenset(wanted - present), delete=frozenset(gone & present),
                forget=frozenset(gone - present))


@dataclass
class Report:
    managed: int = 0
    created: int = 0
    deleted: int = 0

    def message(self) -> str:
        return f"manages {self.managed} ACL(s) on the destination; created {self.created}, deleted {self.deleted}"


_EVERYTHING = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                               AclOperation.ANY, AclPermissionType.ANY)


def _binding_of(acl: AclBinding) -> Binding:
    kind = acl.restype.name
    return Binding(_TO_KAFKA.get(kind, kind), acl.name, acl.resource_pattern_type.name, acl.principal,
                   acl.host, acl.operation.name, acl.permission_type.name)


def _fields(acl: Binding | AclFilter) -> tuple:
    """librdkafka's arguments for a binding or a filter (both list their fields in Kafka's order)."""
    kind, name, pattern, principal, host, operation, permission = astuple(acl)
    return (ResourceType[_FROM_KAFKA.get(kind, kind)], name, ResourcePatternType[pattern], principal, host,
            AclOperation[operation], AclPermissionType[permission])


@dataclass
class AclSync:
    src_admin: AdminClient
    dst_admin: AdminClient
    acl_filters: tuple[AclFilter, ...]
    prefix: str
    timeout: float
    managed: Callable[[], set[Binding]]             # the link's rows in the store
    record: Callable[[Iterable[Binding]], None]     # adds rows
    forget: Callable[[Iterable[Binding]], None]     # removes rows

    def run(self) -> Report:
        source: set[Binding] = set()
        for f in self.acl_filters:
            source |= self._describe(self.src_admin, AclBindingFilter(*_fields(f)), "source")
        destination = self._describe(self.dst_admin, _EVERYTHING, "destination")
        ours = self.managed()
        todo = plan(source, destination, ours, self.prefix)
        if todo.create:
            self.record(todo.create)
            self._on_destination(self.dst_admin.create_acls, [AclBinding(*_fields(b)) for b in sorted(todo.create)])
        if todo.delete:
            self._on_destination(self.dst_admin.delete_acls,
                                 [AclBindingFilter(*_fields(b)) for b in sorted(todo.delete)])
        if todo.delete or todo.forget:
            self.forget(todo.delete | todo.forget)
        managed = (ours | todo.create) - todo.delete - todo.forget
        return Report(managed=len(managed), created=len(todo.create), deleted=len(todo.delete))

    def _describe(self, admin: AdminClient, acl_filter: AclBindingFilter, side: str) -> set[Binding]:
        try:
            found = admin.describe_acls(acl_filter, request_timeout=self.timeout).result(self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError(side, exc) from exc
        return {_binding_of(acl) for acl in found or []}

    def _on_destination(self, call: Callable[..., dict[Any, Any]], requests: list[Any]) -> None:
        """create_acls or delete_acls, waiting for every answer."""
        try:
            for fut in call(requests, request_timeout=self.timeout).values():
                fut.result(self.timeout)
        except ADMIN_ERRORS as exc:
            raise SideError("destination", exc) from exc
