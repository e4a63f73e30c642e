"""Readable flags for the link's sync tasks, turned into link config keys.

`--group-filter include:prefixed:payments-` is easier to write and review than
the JSON the config key takes; both end up as the same key, which the service
validates.
"""

from __future__ import annotations

import argparse

from clusterlink.cli.client import UsageError
from clusterlink.config.filters import NameFilter, dumps

_ACTIONS = ("include", "exclude")
_PATTERNS = ("literal", "prefixed", "glob")


def group_filter(text: str) -> NameFilter:
    """ACTION:PATTERN:NAME, e.g. include:prefixed:payments- (argparse type)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or parts[0].lower() not in _ACTIONS or parts[1].lower() not in _PATTERNS or not parts[2]:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ACTION:PATTERN:NAME with ACTION one of {', '.join(_ACTIONS)} and PATTERN one of "
            f"{', '.join(_PATTERNS)}, e.g. include:prefixed:payments- or include:literal:* for every group")
    return NameFilter(parts[2], parts[1].upper(), parts[0].upper())


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("consumer offset sync (link config keys consumer.offset.*)")
    group.add_argument("--consumer-offset-sync", choices=("on", "off"),
                       help="copy consumer group offsets to the destination (consumer.offset.sync.enable)")
    group.add_argument("--group-filter", metavar="ACTION:PATTERN:NAME", type=group_filter, action="append",
                       help="which groups: include|exclude : literal|prefixed|glob : name; repeat for more "
                            "(consumer.offset.group.filters)")
    group.add_argument("--consumer-offset-sync-ms", metavar="MS",
                       help="how often the offsets are synced (consumer.offset.sync.ms)")
    group.add_argument("--consumer-group-prefix", metavar="PREFIX",
                       help="prefix of the destination groups' names (consumer.group.prefix)")


def sync_config(args: argparse.Namespace) -> dict[str, str]:
    """The link config keys the flags set (only those given)."""
    config: dict[str, str] = {}
    if args.consumer_offset_sync is not None:
        config["consumer.offset.sync.enable"] = "true" if args.consumer_offset_sync == "on" else "false"
    if args.group_filter:
        config["consumer.offset.group.filters"] = dumps(args.group_filter, "groupFilters")
    if args.consumer_offset_sync_ms is not None:
        config["consumer.offset.sync.ms"] = args.consumer_offset_sync_ms
    if args.consumer_group_prefix is not None:
        config["consumer.group.prefix"] = args.consumer_group_prefix
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
