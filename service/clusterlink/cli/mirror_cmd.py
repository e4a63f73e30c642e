"""`clusterlink mirror ...`: mirror topics of a link — create, list, describe,
pause, resume, promote (optionally waiting until PROMOTED), failover, delete,
and the offset translation segments."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import grpc

from clusterlink.api.validation import shown
from clusterlink.cli import output
from clusterlink.cli.client import (
    CliError,
    Client,
    UsageError,
    add_client_command,
    add_paging_arguments,
    connect,
    list_all,
    list_page,
    paging_requested,
)
from clusterlink.cli.link_cmd import link_name
from clusterlink.config.numbers import NumberError, parse_int, parse_seconds
from clusterlink.v1 import clusterlink_pb2 as pb

State = pb.MirrorTopic.State

DEFAULT_PROMOTE_TIMEOUT = 600.0
DEFAULT_DELETE_TIMEOUT = 300.0
MAX_TIMEOUT = 86_400.0
# States from which a PROMOTING mirror never reaches PROMOTED by itself.
_PROMOTE_DEAD_ENDS = frozenset({State.FAILED, State.FAILED_OVER, State.DELETING})
# Errors worth retrying while waiting: the service restarting or slow.
_TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def mirror_name(link: str, topic: str) -> str:
    """('dr-east', 'orders') -> 'links/dr-east/mirrorTopics/orders' (names taken as given, not stripped)."""
    if not topic or "/" in topic:
        raise UsageError(f"invalid topic name {shown(topic)}")
    return f"{link_name(link)}/mirrorTopics/{topic}"


def _state(mirror: pb.MirrorTopic) -> str:
    return output.state_name(State, mirror.state)


def _where(args: argparse.Namespace, topic: str | None = None) -> str:
    return f'mirror topic "{topic or args.topic}" on link "{output.link_id(args.link)}"'


def _validated(args: argparse.Namespace, text: str) -> str:
    return f"{text} (validate only: nothing changed)" if getattr(args, "validate_only", False) else text


def _show(args: argparse.Namespace, mirror: pb.MirrorTopic, message: str, partitions: bool = False) -> None:
    if args.output == "json":
        output.print_json(output.mirror_dict(mirror))
        return
    print(message)
    if partitions and mirror.partitions:
        print()
        print(output.partitions_table(mirror.partitions))


# --------------------------------------------------------------------------- commands


def cmd_create(args: argparse.Namespace) -> int:
    parent = link_name(args.link)
    if args.name is not None and (not args.name or "/" in args.name):
        raise UsageError(f"invalid mirror topic name {shown(args.name)}")
    if args.set_aside_topic is not None and not args.restore:
        raise UsageError("--set-aside-topic needs --restore")
    restore = pb.Restore(enabled=True, set_aside_topic=args.set_aside_topic or "") if args.restore else None
    request = pb.CreateMirrorTopicRequest(
        parent=parent,
        mirror_topic_id=args.name or "",
        mirror_topic=pb.MirrorTopic(source_topic=args.source_topic, restore=restore),
        validate_only=args.validate_only,
    )
    with connect(args) as client:
        mirror = client.call("CreateMirrorTopic", request)
    topic = output.mirror_id(mirror.name) or args.name or args.source_topic
    text = f'created {_where(args, topic)} from source topic "{mirror.source_topic or args.source_topic}"'
    if mirror.state:
        text += f" (state {_state(mirror)})"
    _show(args, mirror, _validated(args, text))
    if args.restore and args.output != "json":
        print(_restore_text(args, mirror))
    return 0


def _restore_text(args: argparse.Namespace, mirror: pb.MirrorTopic) -> str:
    side = mirror.restore.set_aside_topic
    if not args.validate_only:
        return (f'restore: records written outside the link will be set aside in "{side}" before the destination '
                "topic is replaced; follow it with `mirror describe`")
    if not mirror.restore.partitions:
        return "restore: the destination topic holds nothing that is not the source's; nothing would be set aside"
    total = sum(s.records for s in mirror.restore.partitions)
    return (f'restore would set aside {total} record(s) in "{side}", then replace the destination topic:\n\n'
            + output.set_aside_table(mirror.restore))


def cmd_list(args: argparse.Namespace) -> int:
    parent = link_name(args.link)
    next_token = None
    with connect(args) as client:
        if paging_requested(args):
            request = pb.ListMirrorTopicsRequest(
                parent=parent, page_size=args.page_size or 0, page_token=args.page_token or ""
            )
            mirrors, next_token = list_page(client, "ListMirrorTopics", request, "mirror_topics")
        else:
            mirrors = list_all(
                client,
                "ListMirrorTopics",
                lambda token: pb.ListMirrorTopicsRequest(parent=parent, page_token=token),
                "mirror_topics",
            )
    if args.output == "json":
        items = [output.mirror_dict(m) for m in mirrors]
        output.print_json(items if next_token is None else {"mirror_topics": items, "next_page_token": next_token})
    else:
        print(output.mirrors_table(mirrors))
        if next_token:
            print(f"next page: --page-token {next_token}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    name = mirror_name(args.link, args.topic)
    with connect(args) as client:
        mirror = client.call("GetMirrorTopic", pb.GetMirrorTopicRequest(name=name))
    if args.output == "json":
        output.print_json(output.mirror_dict(mirror))
    else:
        print(output.mirror_detail(mirror))
    return 0


def _simple(method: str, request_type: Any, verb: str, partitions: bool = False) -> Any:
    def run(args: argparse.Namespace) -> int:
        name = mirror_name(args.link, args.topic)
        with connect(args) as client:
            mirror = client.call(method, request_type(name=name, validate_only=args.validate_only))
        _show(args, mirror, _validated(args, f"{verb} {_where(args)}: state {_state(mirror)}"), partitions)
        return 0

    return run


cmd_pause = _simple("PauseMirrorTopic", pb.PauseMirrorTopicRequest, "paused")
cmd_resume = _simple("ResumeMirrorTopic", pb.ResumeMirrorTopicRequest, "resumed")
# After a failover the partition table shows the last mirrored offsets (the
# data-loss window is the lag).
cmd_failover = _simple("FailoverMirrorTopic", pb.FailoverMirrorTopicRequest, "failed over", partitions=True)


def wait_for_promotion(
    client: Client,
    name: str,
    mirror: pb.MirrorTopic,
    timeout: float,
    label: str,
    progress: bool = False,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> pb.MirrorTopic:
    """Polls GetMirrorTopic until the mirror is PROMOTED; raises CliError when it
    reaches a dead end (FAILED, FAILED_OVER, DELETING, gone) or time runs out."""
    deadline = clock() + timeout
    interval = 0.2
    last_error: CliError | None = None
    last_report = ""
    while True:
        if mirror.state == State.PROMOTED:
            return mirror
        if mirror.state in _PROMOTE_DEAD_ENDS:
            reason = f": {mirror.reason}" if mirror.reason else ""
            raise CliError(f"{label} was not promoted: it is {_state(mirror)}{reason}")
        if progress:
            report = f"waiting for {label}: state {_state(mirror)}, max lag {mirror.max_lag}"
            if mirror.reason:
                report += f" ({mirror.reason})"
            if report != last_report:
                print(report, file=sys.stderr)
                last_report = report
        remaining = deadline - clock()
        if remaining <= 0:
            detail = f"state {_state(mirror)}, max lag {mirror.max_lag}"
            if mirror.reason:
                detail += f", waiting for: {output.cell(mirror.reason)}"
            if last_error is not None:
                detail += f"; last error: {last_error}"
            raise CliError(f"{label} was not promoted within {timeout:g} s ({detail})")
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, 2.0)
        remaining = deadline - clock()
        try:
            mirror = client.call(
                "GetMirrorTopic",
                pb.GetMirrorTopicRequest(name=name),
                timeout=max(0.5, min(client.rpc_timeout, remaining)),
            )
            last_error = None
        except CliError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                raise CliError(f"{label} disappeared while waiting for its promotion") from None
            if exc.code not in _TRANSIENT:
                raise
            last_error = exc


def cmd_promote(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout needs --wait")
    name = mirror_name(args.link, args.topic)
    label = _where(args)
    with connect(args) as client:
        mirror = client.call(
            "PromoteMirrorTopic", pb.PromoteMirrorTopicRequest(name=name, validate_only=args.validate_only)
        )
        if args.wait and not args.validate_only:
            timeout = DEFAULT_PROMOTE_TIMEOUT if args.timeout is None else args.timeout
            mirror = wait_for_promotion(client, name, mirror, timeout, label, progress=sys.stderr.isatty())
    if mirror.state == State.PROMOTED:
        text = f"promoted {label}: state PROMOTED, the destination topic is writable"
    else:
        text = f"promoting {label}: state {_state(mirror)}"
        if mirror.reason:
            text += f" ({mirror.reason})"
    _show(args, mirror, _validated(args, text))
    return 0


def _deletion_error(client: Client, link: str, topic: str) -> str:
    """What keeps a DELETING mirror from going away, as its link task reports it ("" when nothing)."""
    try:
        described = client.call("GetLink", pb.GetLinkRequest(name=link))
    except CliError:
        return ""
    for task in described.status.tasks:
        if task.name == f"mirrorTopics/{topic}" and task.state == pb.LinkTask.ERROR and task.last_error:
            return output.cell(task.last_error)
    return ""


def wait_for_deletion(
    client: Client,
    name: str,
    timeout: float,
    label: str,
    progress: bool = False,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> None:
    """Polls GetMirrorTopic until the mirror is gone (NOT_FOUND); raises CliError when time runs out,
    with what the service last reported as the obstacle (e.g. the destination topic cannot be deleted)."""
    link, _, topic = name.partition("/mirrorTopics/")
    deadline = clock() + timeout
    interval = 0.2
    problem = ""
    last_report = ""
    while True:
        remaining = deadline - clock()
        try:
            mirror = client.call(
                "GetMirrorTopic",
                pb.GetMirrorTopicRequest(name=name),
                timeout=max(0.5, min(client.rpc_timeout, remaining)),
            )
        except CliError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return
            if exc.code not in _TRANSIENT:
                raise
            problem = str(exc)
        else:
            if mirror.state != State.DELETING:
                return  # gone, and a new mirror topic of the same name was created since
            problem = _deletion_error(client, link, topic)
        if progress:
            report = f"waiting for {label} to be deleted" + (f": {problem}" if problem else "")
            if report != last_report:
                print(report, file=sys.stderr)
                last_report = report
        remaining = deadline - clock()
        if remaining <= 0:
            detail = f"; last error: {problem}" if problem else ""
            raise CliError(
                f"{label} is still being deleted after {timeout:g} s{detail} "
                "(the service keeps trying; run the command again with --wait to go on waiting)"
            )
        sleep(min(interval, remaining))
        interval = min(interval * 1.5, 2.0)


def cmd_delete(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout needs --wait")
    name = mirror_name(args.link, args.topic)
    request = pb.DeleteMirrorTopicRequest(
        name=name,
        delete_destination_topic=args.delete_destination_topic,
        validate_only=args.validate_only,
    )
    label = _where(args)
    drop = args.delete_destination_topic
    with connect(args) as client:
        client.call("DeleteMirrorTopic", request)
        if args.validate_only:
            what = "would be deleted" if drop else "would be kept"
            print(_validated(args, f"{label} can be deleted (destination topic {what})"))
            return 0
        if args.wait:
            timeout = DEFAULT_DELETE_TIMEOUT if args.timeout is None else args.timeout
            wait_for_deletion(client, name, timeout, label, progress=sys.stderr.isatty())
            print(f"deleted {label} (destination topic {'deleted' if drop else 'kept'})")
            return 0
    # The service has only recorded the request (state DELETING): mirroring
    # stops first, and deleting the destination topic can still fail.
    if drop:
        print(
            f"deletion of {label} requested (state DELETING): mirroring stops, then the destination topic "
            "is deleted and the mirror topic removed; --wait waits until that is done"
        )
    else:
        print(
            f"deletion of {label} requested (state DELETING): mirroring stops, then the mirror topic is "
            "removed; the destination topic is kept"
        )
    return 0


def cmd_segments(args: argparse.Namespace) -> int:
    name = mirror_name(args.link, args.topic)
    partition = -1 if args.partition is None else args.partition
    with connect(args) as client:
        response = client.call(
            "ListTranslationSegments", pb.ListTranslationSegmentsRequest(name=name, partition=partition)
        )
    if args.output == "json":
        output.print_json([output.to_dict(s) for s in response.segments])
    else:
        print(output.segments_table(response.segments))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    name = mirror_name(args.link, args.topic)
    request = pb.TranslateOffsetsRequest(name=name, partition=args.partition, source_offsets=args.offsets)
    with connect(args) as client:
        response = client.call("TranslateOffsets", request)
    pairs = list(zip(args.offsets, response.destination_offsets, strict=False))
    if args.output == "json":
        output.print_json(
            [
                {"partition": args.partition, "source_offset": int(s), "destination_offset": int(d)}
                for s, d in pairs
            ]
        )
    else:
        print(output.render_table(("SOURCE_OFFSET", "DESTINATION_OFFSET"), pairs))
    return 0


# --------------------------------------------------------------------------- parser


def _number(parse: Any, *bounds: Any) -> Any:
    """An argparse type from a strict parser of config.numbers (the one the service uses)."""

    def convert(text: str) -> Any:
        try:
            return parse(text, *bounds)
        except NumberError as exc:
            raise argparse.ArgumentTypeError(f"{shown(text)} {exc}") from None

    return convert


_partition = _number(parse_int, 0, 2**31 - 1)
_offset = _number(parse_int, 0, 2**63 - 1)
_seconds = _number(parse_seconds, 0.001, MAX_TIMEOUT)


def register(subparsers: Any) -> None:
    mirror = subparsers.add_parser(
        "mirror",
        help="manage mirror topics of a link",
        description="Manage mirror topics: read-only copies on the destination of source topics, "
        "with identical offsets.",
    )
    commands = mirror.add_subparsers(dest="mirror_command", metavar="COMMAND", required=True)

    def client_command(
        name: str, help_text: str, func: Any, topic: bool = True, **kw: Any
    ) -> argparse.ArgumentParser:
        positionals = [("link", "LINK", "the link name")]
        if topic:
            positionals.append(("topic", "TOPIC", "the mirror topic (its name on the destination)"))
        return add_client_command(commands, name, help_text, func, positionals=tuple(positionals), **kw)

    create = client_command("create", "start mirroring a source topic", cmd_create, topic=False)
    create.add_argument("source_topic", metavar="SOURCE_TOPIC", help="the topic on the source cluster")
    create.add_argument(
        "--name",
        metavar="MIRROR_NAME",
        help="the destination topic name (default: the link's mirror.topic.prefix + SOURCE_TOPIC)",
    )
    create.add_argument(
        "--restore",
        action="store_true",
        help="failback: if the destination topic holds records that are not the source's, copy them to a side "
        "topic, then replace the topic and mirror it from the source (with --validate-only: show what would be "
        "set aside)",
    )
    create.add_argument(
        "--set-aside-topic",
        metavar="NAME",
        help="with --restore: the side topic on the destination cluster (default: MIRROR_NAME.diverged)",
    )

    add_paging_arguments(
        client_command("list", "list the mirror topics of a link", cmd_list, mutating=False, topic=False)
    )
    client_command("describe", "show a mirror topic and its partitions", cmd_describe, mutating=False)
    client_command("pause", "pause mirroring a topic", cmd_pause)
    client_command("resume", "resume mirroring a paused topic", cmd_resume)

    promote = client_command(
        "promote", "mirror until lag 0, then stop and make the destination topic writable", cmd_promote
    )
    promote.add_argument("--wait", action="store_true", help="wait until the mirror topic is PROMOTED")
    promote.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"with --wait: give up after SECONDS (default {DEFAULT_PROMOTE_TIMEOUT:g})",
    )

    client_command(
        "failover",
        "stop mirroring at once and make the destination topic writable (shows the last mirrored offsets)",
        cmd_failover,
    )

    delete = client_command("delete", "stop mirroring a topic and forget it", cmd_delete, with_output=False)
    delete.add_argument(
        "--delete-destination-topic",
        action="store_true",
        help="also delete the topic on the destination cluster (default: keep it)",
    )
    delete.add_argument(
        "--wait",
        action="store_true",
        help="wait until the mirror topic is gone (and its destination topic deleted, if asked)",
    )
    delete.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"with --wait: give up after SECONDS (default {DEFAULT_DELETE_TIMEOUT:g})",
    )

    segments = client_command(
        "segments", "list the offset translation segments of a mirror topic", cmd_segments, mutating=False
    )
    segments.add_argument("--partition", type=_partition, metavar="N", help="only partition N")

    translate = client_command(
        "translate", "map source offsets of a partition to destination offsets", cmd_translate, mutating=False
    )
    translate.add_argument("--partition", type=_partition, metavar="N", required=True)
    translate.add_argument("offsets", metavar="SOURCE_OFFSET", type=_offset, nargs="+")
