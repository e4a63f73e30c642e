"""Name filters of the link's sync tasks, in Cluster Linking's own JSON form.

`consumer.offset.group.filters` takes
``{"groupFilters": [{"name": "app", "patternType": "LITERAL", "filterType": "INCLUDE"}]}``
as Cluster Linking does, so an existing link's settings carry over unchanged.

- patternType: LITERAL (the name itself; ``*`` alone means every name),
  PREFIXED (names starting with it) or GLOB (shell-style: ``*``, ``?``, ``[..]``).
- filterType: INCLUDE or EXCLUDE.
- Enums are case-insensitive. A missing patternType is LITERAL, a missing
  filterType INCLUDE, a missing name ``*``.

A name passes when some INCLUDE filter matches it and no EXCLUDE filter does.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass

PATTERN_TYPES = ("LITERAL", "PREFIXED", "GLOB")
FILTER_TYPES = ("INCLUDE", "EXCLUDE")
DEFAULT_PATTERN_TYPE = "LITERAL"
DEFAULT_FILTER_TYPE = "INCLUDE"
_FIELDS = ("name", "patternType", "filterType")


class FilterError(ValueError):
    """A filter value that cannot be used; the text says what to fix."""


@dataclass(frozen=True)
class NameFilter:
    name: str
    pattern_type: str = DEFAULT_PATTERN_TYPE
    filter_type: str = DEFAULT_FILTER_TYPE

    def matches(self, candidate: str) -> bool:
        if self.pattern_type == "PREFIXED":
            return candidate.startswith(self.name)
        if self.pattern_type == "GLOB":
            return fnmatch.fnmatchcase(candidate, self.name)
        return self.name == "*" or candidate == self.name


def passes(filters: tuple[NameFilter, ...], name: str) -> bool:
    included = any(f.filter_type == "INCLUDE" and f.matches(name) for f in filters)
    return included and not any(f.filter_type == "EXCLUDE" and f.matches(name) for f in filters)


def dumps(filters: Iterable[NameFilter], list_key: str) -> str:
    """The JSON form `parse` reads, with the fields as given (the CLI's flags and
    Terraform's blocks write it)."""
    items = [{"name": f.name, "patternType": f.pattern_type, "filterType": f.filter_type} for f in filters]
    return json.dumps({list_key: items}, separators=(",", ":"))


def parse(value: str, list_key: str) -> tuple[NameFilter, ...]:
    """Parses ``{"<list_key>": [{...}, ...]}``; raises FilterError naming the bad part."""
    example = f'{{"{list_key}":[{{"name":"app","patternType":"PREFIXED","filterType":"INCLUDE"}}]}}'
    try:
        doc = json.loads(value)
    except ValueError as exc:
        raise FilterError(f"must be JSON like {example} ({exc.msg} at character {exc.pos})") from None
    if not isinstance(doc, dict) or set(doc) != {list_key} or not isinstance(doc[list_key], list):
        raise FilterError(f"must be an object with the one key {list_key!r} holding a list, like {example}")
    if not doc[list_key]:
        raise FilterError(f"{list_key} must hold at least one filter, like {example}")
    return tuple(_one(item, f"{list_key}[{i}]") for i, item in enumerate(doc[list_key]))


def _one(item: object, where: str) -> NameFilter:
    if not isinstance(item, dict):
        raise FilterError(f"{where} must be an object with name, patternType and filterType")
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise FilterError(f"{where} has unknown field {unknown[0]!r}; fields: {', '.join(_FIELDS)}")
    name = item.get("name", "*")
    if not isinstance(name, str) or not name:
        raise FilterError(f"{where}.name must be a non-empty string")
    pattern = _enum(item.get("patternType", DEFAULT_PATTERN_TYPE), PATTERN_TYPES, f"{where}.patternType")
    kind = _enum(item.get("filterType", DEFAULT_FILTER_TYPE), FILTER_TYPES, f"{where}.filterType")
    return NameFilter(name, pattern, kind)


def _enum(value: object, choices: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value.upper() not in choices:
        raise FilterError(f"{where} must be one of {', '.join(choices)} (any case)")
    return value.upper()


# -- ACL filters ----------------------------------------------------------------
#
# `acl.filters` takes Cluster Linking's
# ``{"aclFilters": [{"resourceFilter": {"resourceType": "TOPIC", "name": "orders",
#   "patternType": "LITERAL"}, "accessFilter": {"principal": "User:alice", "host": "*",
#   "operation": "ANY", "permissionType": "ANY"}}]}``.
# Each filter is a Kafka ACL binding filter, applied by the source broker
# itself (DescribeAcls), so matching is exactly Kafka's. A missing field
# matches any value, as in Cluster Linking.

# The resource types and operations the ACL sync can read and write (what
# librdkafka's admin API supports).
ACL_RESOURCE_TYPES = ("ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID")
ACL_PATTERN_TYPES = ("ANY", "MATCH", "LITERAL", "PREFIXED")
ACL_OPERATIONS = ("ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
                  "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE")
ACL_PERMISSION_TYPES = ("ANY", "ALLOW", "DENY")
_RESOURCE_FIELDS = ("resourceType", "name", "patternType")
_ACCESS_FIELDS = ("principal", "host", "operation", "permissionType")


@dataclass(frozen=True)
class AclFilter:
    """One ACL binding filter; None in a name field means any."""

    resource_type: str = "ANY"
    name: str | None = None
    pattern_type: str = "ANY"
    principal: str | None = None
    host: str | None = None
    operation: str = "ANY"
    permission_type: str = "ANY"


def parse_acl_filters(value: str) -> tuple[AclFilter, ...]:
    """Parses ``{"aclFilters": [...]}``; raises FilterError naming the bad part."""
    example = ('{"aclFilters":[{"resourceFilter":{"resourceType":"TOPIC","name":"orders","patternType":"PREFIXED"},'
               '"accessFilter":{"principal":"User:alice","operation":"ANY","permissionType":"ALLOW"}}]}')
    try:
        doc = json.loads(value)
    except ValueError as exc:
        raise FilterError(f"must be JSON like {example} ({exc.msg} at character {exc.pos})") from None
    if not isinstance(doc, dict) or set(doc) != {"aclFilters"} or not isinstance(doc["aclFilters"], list):
        raise FilterError(f"must be an object with the one key 'aclFilters' holding a list, like {example}")
    if not doc["aclFilters"]:
        raise FilterError(f"aclFilters must hold at least one filter, like {example}")
    return tuple(_one_acl(item, f"aclFilters[{i}]") for i, item in enumerate(doc["aclFilters"]))


def _one_acl(item: object, where: str) -> AclFilter:
    if not isinstance(item, dict):
        raise FilterError(f"{where} must be an object with resourceFilter and accessFilter")
    unknown = sorted(set(item) - {"resourceFilter", "accessFilter"})
    if unknown:
        raise FilterError(f"{where} has unknown field {unknown[0]!r}; fields: resourceFilter, accessFilter")
    resource = _section(item.get("resourceFilter", {}), f"{where}.resourceFilter", _RESOURCE_FIELDS)
    access = _section(item.get("accessFilter", {}), f"{where}.accessFilter", _ACCESS_FIELDS)
    return AclFilter(
        resource_type=_enum(resource.get("resourceType", "ANY"), ACL_RESOURCE_TYPES,
                            f"{where}.resourceFilter.resourceType"),
        name=_text(resource.get("name"), f"{where}.resourceFilter.name"),
        pattern_type=_enum(resource.get("patternType", "ANY"), ACL_PATTERN_TYPES,
                           f"{where}.resourceFilter.patternType"),
        principal=_principal(access.get("principal"), f"{where}.accessFilter.principal"),
        host=_text(access.get("host"), f"{where}.accessFilter.host"),
        operation=_enum(access.get("operation", "ANY"), ACL_OPERATIONS, f"{where}.accessFilter.operation"),
        permission_type=_enum(access.get("permissionType", "ANY"), ACL_PERMISSION_TYPES,
                              f"{where}.accessFilter.permissionType"),
    )


def _section(value: object, where: str, fields: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(value, dict):
        raise FilterError(f"{where} must be an object with {', '.join(fields)}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise FilterError(f"{where} has unknown field {unknown[0]!r}; fields: {', '.join(fields)}")
    return value


def _text(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FilterError(f"{where} must be a non-empty string (leave it out to match any)")
    return value


def _principal(value: object, where: str) -> str | None:
    text = _text(value, where)
    if text is not None and ":" not in text:
        raise FilterError(f"{where} must be TYPE:NAME, like User:alice (leave it out to match any)")
    return text
