"""Readable flags for the link's sync tasks, turned into link config keys.

`--group-filter include:prefixed:payments-` is easier to write and review than
the JSON the config key takes; both end up as the same key, which the service
validates.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusterlink.cli.client import UsageError
from clusterlink.config.filters import NameFilter, dumps

_ACTIONS = ("include", "exclude")
_PATTERNS = ("literal", "prefixed", "glob")
# --acl-filter field -> (Cluster Linking section, field)
_ACL_FIELDS = {
    "resource": ("resourceFilter", "resourceType"),
    "pattern": ("resourceFilter", "patternType"),
    "name": ("resourceFilter", "name"),
    "principal": ("accessFilter", "principal"),
    "host": ("accessFilter", "host"),
    "operation": ("accessFilter", "operation"),
    "permission": ("accessFilter", "permissionType"),
}


def name_filter(text: str) -> NameFilter:
    """ACTION:PATTERN:NAME, e.g. include:prefixed:payments- (argparse type)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or parts[0].lower() not in _ACTIONS or parts[1].lower() not in _PATTERNS or not parts[2]:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ACTION:PATTERN:NAME with ACTION one of {', '.join(_ACTIONS)} and PATTERN one of "
            f"{', '.join(_PATTERNS)}, e.g. include:prefixed:payments- or include:literal:* for every name")
    return NameFilter(parts[2], parts[1].upper(), parts[0].upper())


def acl_filter(text: str) -> dict[str, dict[str, str]]:
    """FIELD=VALUE,... e.g. resource=topic,pattern=prefixed,name=orders.,principal=User:alice (argparse type)."""
    out: dict[str, dict[str, str]] = {"resourceFilter": {}, "accessFilter": {}}
    for part in text.split(","):
        field, sep, value = part.partition("=")
        if not sep or field.strip().lower() not in _ACL_FIELDS or not value:
            raise argparse.ArgumentTypeError(
                f"{part!r} in {text!r} is not FIELD=VALUE with FIELD one of {', '.join(_ACL_FIELDS)}, e.g. "
                "resource=topic,pattern=prefixed,name=orders.,principal=User:alice,operation=read; "
                "a field left out matches any value")
        section, key = _ACL_FIELDS[field.strip().lower()]
        out[section][key] = value
    return out


def _on_off(value: str) -> str:
    return "true" if value == "on" else "false"


@dataclass(frozen=True)
class _Flag:
    flag: str
    key: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    type: Callable[[str], Any] | None = None
    repeat: bool = False
    value: Callable[[Any], str] = str


def _filters_json(list_key: str) -> Callable[[list[NameFilter]], str]:
    return lambda items: dumps(items, list_key)


_GROUPS: dict[str, tuple[_Flag, ...]] = {
    "consumer offset sync (link config keys consumer.offset.*)": (
        _Flag("--consumer-offset-sync", "consumer.offset.sync.enable",
              "copy consumer group offsets to the destination", choices=("on", "off"), value=_on_off),
        _Flag("--group-filter", "consumer.offset.group.filters",
              "which groups: include|exclude : literal|prefixed|glob : name; repeat for more",
              metavar="ACTION:PATTERN:NAME", type=name_filter, repeat=True, value=_filters_json("groupFilters")),
        _Flag("--consumer-offset-sync-ms", "consumer.offset.sync.ms", "how often the offsets are synced",
              metavar="MS"),
        _Flag("--consumer-group-prefix", "consumer.group.prefix", "prefix of the destination groups' names",
              metavar="PREFIX"),
    ),
    "new topics from filters (link config keys auto.create.mirror.topics.*)": (
        _Flag("--auto-create-mirror-topics", "auto.create.mirror.topics.enable",
              "create a mirror topic for every source topic the topic filters pass", choices=("on", "off"),
              value=_on_off),
        _Flag("--topic-filter", "auto.create.mirror.topics.filters",
              "which source topics: include|exclude : literal|prefixed|glob : name; repeat for more",
              metavar="ACTION:PATTERN:NAME", type=name_filter, repeat=True, value=_filters_json("topicFilters")),
        _Flag("--auto-create-mirror-topics-ms", "auto.create.mirror.topics.ms",
              "how often the source's topics are listed", metavar="MS"),
    ),
    "topic config sync (link config keys topic.config.sync.*)": (
        _Flag("--topic-config-sync", "topic.config.sync.enable", "keep mirror topic configs equal to the source's",
              choices=("on", "off"), value=_on_off),
        _Flag("--topic-config-sync-ms", "topic.config.sync.ms", "how often the configs are compared", metavar="MS"),
        _Flag("--topic-config-include", "topic.config.sync.include", "config keys synced on top of the default set",
              metavar="KEY,KEY"),
        _Flag("--topic-config-exclude", "topic.config.sync.exclude", "config keys taken out of the synced set",
              metavar="KEY,KEY"),
    ),
    "ACL sync (link config keys acl.*)": (
        _Flag("--acl-sync", "acl.sync.enable", "create the source's matching ACLs on the destination",
              choices=("on", "off"), value=_on_off),
        _Flag("--acl-filter", "acl.filters",
              "which ACLs: resource=,pattern=,name=,principal=,host=,operation=,permission= (any left out "
              "matches all); repeat for more", metavar="FIELD=VALUE,...", type=acl_filter, repeat=True,
              value=lambda items: json.dumps({"aclFilters": items}, separators=(",", ":"))),
        _Flag("--acl-sync-ms", "acl.sync.ms", "how often the ACLs are synced", metavar="MS"),
    ),
}


def _dest(flag: _Flag) -> str:
    return flag.flag.lstrip("-").replace("-", "_")


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    for title, flags in _GROUPS.items():
        group = parser.add_argument_group(title)
        for f in flags:
            kwargs: dict[str, Any] = {"help": f"{f.help} ({f.key})", "dest": _dest(f)}
            if f.choices:
                kwargs["choices"] = f.choices
            if f.metavar:
                kwargs["metavar"] = f.metavar
            if f.type:
                kwargs["type"] = f.type
            if f.repeat:
                kwargs["action"] = "append"
            group.add_argument(f.flag, **kwargs)


def sync_config(args: argparse.Namespace) -> dict[str, str]:
    """The link config keys the flags set (only those given)."""
    config: dict[str, str] = {}
    for flags in _GROUPS.values():
        for f in flags:
            given = getattr(args, _dest(f), None)
            if given is not None and given != []:
                config[f.key] = f.value(given)
    return config


def merged_config(args: argparse.Namespace) -> dict[str, str]:
    """--config entries plus the flags above; a key given both ways is refused."""
    config: dict[str, str] = dict(args.config or {})
    flags = sync_config(args)
    both = sorted(set(config) & set(flags))
    if both:
        raise UsageError(f"config key {both[0]!r} is given both with --config and with its own flag; give it once")
    config.update(flags)
    return config
