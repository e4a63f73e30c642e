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
