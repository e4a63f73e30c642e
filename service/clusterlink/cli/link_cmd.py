"""`clusterlink link ...`: create, list, describe, update, pause, resume and
delete links, and list the link config keys."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import field_mask_pb2

from clusterlink.api.validation import shown
from clusterlink.cli import output
from clusterlink.cli.sync_flags import add_sync_arguments, merged_config
from clusterlink.cli.client import (
    CliError,
    UsageError,
    add_client_command,
    add_paging_arguments,
    connect,
    list_all,
    list_page,
    paging_requested,
)
from clusterlink.v1 import clusterlink_pb2 as pb

SIDES = ("source", "destination")


# --------------------------------------------------------------------------- argument helpers


def parse_key_value(text: str) -> tuple[str, str]:
    """'KEY=VALUE' -> (KEY, VALUE); the value may be empty and may contain '='."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {shown(text)} (missing '=')")
    key = key.strip()
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {shown(text)} (empty KEY)")
    return key, value


class KeyValueAction(argparse.Action):
    """Collects repeated KEY=VALUE options into a dict; a key given twice is a usage error."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = dict(getattr(namespace, self.dest, None) or {})
        key, value = values
        if key in current:
            parser.error(f"argument {option_string}: {key!r} given more than once")
        current[key] = value
        setattr(namespace, self.dest, current)


def link_name(text: str) -> str:
    """'dr-east' or 'links/dr-east' -> 'links/dr-east'.

    Taken as given (not stripped): the service checks the name in full and
    refuses, say, a trailing newline, instead of this tool quietly fixing it.
    """
    link = output.link_id(text)
    if not link or "/" in link:
        raise UsageError(f"invalid link name {shown(text)}: expected NAME or links/NAME")
    return f"links/{link}"


def _add_connection_arguments(parser: argparse.ArgumentParser, side: str, for_create: bool) -> None:
    group = parser.add_argument_group(f"{side} cluster")
    group.add_argument(
        f"--{side}-bootstrap",
        dest=f"{side}_bootstrap",
        metavar="HOST:PORT[,HOST:PORT...]",
        required=for_create,
        help=f"bootstrap servers of the {side} cluster",
    )
    group.add_argument(
        f"--{side}-security-protocol",
        dest=f"{side}_security_protocol",
        type=str.upper,
        metavar="PROTOCOL",
        help="PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    group.add_argument(
        f"--{side}-sasl-mechanism",
        dest=f"{side}_sasl_mechanism",
        type=str.upper,
        metavar="MECHANISM",
        help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    )
    group.add_argument(f"--{side}-sasl-username", dest=f"{side}_sasl_username", metavar="USER")
    password = group.add_mutually_exclusive_group()
    password.add_argument(
        f"--{side}-sasl-password-file",
        dest=f"{side}_sasl_password_file",
        metavar="FILE",
        help="read the SASL password from FILE ('-' for stdin; one trailing newline is dropped)",
    )
    password.add_argument(
        f"--{side}-sasl-password-env",
        dest=f"{side}_sasl_password_env",
        metavar="VAR",
        help="read the SASL password from environment variable VAR",
    )
    group.add_argument(
        f"--{side}-ssl-ca-file",
        dest=f"{side}_ssl_ca_file",
        metavar="FILE",
        help="PEM CA certificate(s) to verify the brokers",
    )
    group.add_argument(
        f"--{side}-ssl-certificate-file",
        dest=f"{side}_ssl_certificate_file",
        metavar="FILE",
        help="PEM client certificate for mutual TLS",
    )
    group.add_argument(
        f"--{side}-ssl-key-file",
        dest=f"{side}_ssl_key_file",
        metavar="FILE",
        help="PEM client private key for mutual TLS",
    )


def _read_file(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"cannot read {what} file {path}: not UTF-8 text") from None


def _read_password(args: argparse.Namespace, side: str) -> str | None:
    path = getattr(args, f"{side}_sasl_password_file", None)
    var = getattr(args, f"{side}_sasl_password_env", None)
    if path is not None:
        password = _read_file(path, f"{side} SASL password")
        if password.endswith("\n"):
            password = password[:-1]
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise CliError(f"the {side} SASL password file {path} is empty")
        return password
    if var is not None:
        password = os.environ.get(var)
        if password is None:
            raise CliError(f"environment variable {var} (--{side}-sasl-password-env) is not set")
        if not password:
            raise CliError(f"environment variable {var} (--{side}-sasl-password-env) is empty")
        return password
    return None


def connection_from_args(args: argparse.Namespace, side: str) -> tuple[pb.ClusterConnection, list[str]]:
    """The ClusterConnection the `--{side}-*` options describe, and the names of
    the fields they set (for update masks)."""
    conn = pb.ClusterConnection()
    fields: list[str] = []

    def put(field: str, value: str | None) -> None:
        if value is not None:
            setattr(conn, field, value)
            fields.append(field)

    bootstrap = getattr(args, f"{side}_bootstrap", None)
    put("bootstrap_servers", bootstrap.strip() if bootstrap is not None else None)
    put("security_protocol", getattr(args, f"{side}_security_protocol", None))
    put("sasl_mechanism", getattr(args, f"{side}_sasl_mechanism", None))
    put("sasl_username", getattr(args, f"{side}_sasl_username", None))
    put("sasl_password", _read_password(args, side))
    for option, field, what in (
        ("ssl_ca_file", "ssl_ca_pem", "CA certificate"),
        ("ssl_certificate_file", "ssl_certificate_pem", "client certificate"),
        ("ssl_key_file", "ssl_key_pem", "client key"),
    ):
        path = getattr(args, f"{side}_{option}", None)
        put(field, _read_file(path, f"{side} {what}") if path is not None else None)
    return conn, fields


def _show(args: argparse.Namespace, link: pb.Link, message: str) -> None:
    if args.output == "json":
        output.print_json(output.link_dict(link))
    else:
        print(message)


def _validated(args: argparse.Namespace, text: str) -> str:
    return f"{text} (validate only: nothing changed)" if getattr(args, "validate_only", False) else text


# --------------------------------------------------------------------------- commands


def cmd_create(args: argparse.Namespace) -> int:
    name = link_name(args.name)
    source, _ = connection_from_args(args, "source")
    destination, _ = connection_from_args(args, "destination")
    request = pb.CreateLinkRequest(
        link_id=output.link_id(name),
        link=pb.Link(source=source, destination=destination, config=merged_config(args)),
        validate_only=args.validate_only,
    )
    with connect(args) as client:
        link = client.call("CreateLink", request)
    link_id = output.link_id(link.name) or output.link_id(name)
    _show(args, link, _validated(args, f'created link "{link_id}"'))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    next_token = None
    with connect(args) as client:
        if paging_requested(args):
            links, next_token = list_page(
                client, "ListLinks", pb.ListLinksRequest(page_size=args.page_size or 0, page_token=args.page_token or ""),
                "links",
            )
        else:
            links = list_all(
                client,
                "ListLinks",
                lambda token: pb.ListLinksRequest(page_token=token),
                "links",
            )
    if args.output == "json":
        items = [output.link_dict(link) for link in links]
        output.print_json(items if next_token is None else {"links": items, "next_page_token": next_token})
    else:
        print(output.links_table(links))
        if next_token:
            print(f"next page: --page-token {next_token}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    with connect(args) as client:
        link = client.call("GetLink", pb.GetLinkRequest(name=link_name(args.name)))
    if args.output == "json":
        output.print_json(output.link_dict(link))
    else:
        print(output.link_detail(link))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    name = link_name(args.name)
    config: dict[str, str] = merged_config(args)
    removed: list[str] = args.remove_config or []
    both = sorted(set(config) & set(removed))
    if both:
        raise UsageError(f"config key {both[0]!r} is both set (--config) and removed (--remove-config)")
    link = pb.Link(name=name, config=config, etag=args.etag or "")
    paths = [f"config.{key}" for key in config]
    paths += [f"config.{key}" for key in dict.fromkeys(removed)]
    for side in SIDES:
        conn, fields = connection_from_args(args, side)
        if fields:
            getattr(link, side).CopyFrom(conn)
            paths += [f"{side}.{field}" for field in fields]
    if not paths:
        raise UsageError("nothing to update: give --config KEY=VALUE, --remove-config KEY or connection options")
    request = pb.UpdateLinkRequest(
        link=link,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        validate_only=args.validate_only,
    )
    with connect(args) as client:
        updated = client.call("UpdateLink", request)
    _show(args, updated, _validated(args, f'updated link "{output.link_id(name)}"'))
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    name = link_name(args.name)
    with connect(args) as client:
        link = client.call("PauseLink", pb.PauseLinkRequest(name=name, validate_only=args.validate_only))
    _show(args, link, _validated(args, f'paused link "{output.link_id(name)}"'))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    name = link_name(args.name)
    with connect(args) as client:
        link = client.call("ResumeLink", pb.ResumeLinkRequest(name=name, validate_only=args.validate_only))
    _show(args, link, _validated(args, f'resumed link "{output.link_id(name)}"'))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    name = link_name(args.name)
    request = pb.DeleteLinkRequest(
        name=name, etag=args.etag or "", force=args.force, validate_only=args.validate_only
    )
    with connect(args) as client:
        try:
            client.call("DeleteLink", request)
        except CliError as exc:
            if exc.code == grpc.StatusCode.FAILED_PRECONDITION and not args.force:
                raise CliError(f"{exc} [with this tool: add --force]", exc.code) from None
            raise
    print(_validated(args, f'deleted link "{output.link_id(name)}"'))
    return 0


def cmd_config_keys(args: argparse.Namespace) -> int:
    from clusterlink.config.link_config import KNOBS

    knobs = [KNOBS[key] for key in sorted(KNOBS)]
    if args.output == "json":
        output.print_json([{"key": k.key, "default": k.default, "description": k.doc} for k in knobs])
    else:
        print(output.render_table(("KEY", "DEFAULT", "DESCRIPTION"), [(k.key, k.default, k.doc) for k in knobs]))
    return 0


# --------------------------------------------------------------------------- parser


def register(subparsers: Any) -> None:
    link = subparsers.add_parser(
        "link",
        help="manage links between two Kafka clusters",
        description="Manage links: a link connects a source and a destination Kafka cluster.",
    )
    commands = link.add_subparsers(dest="link_command", metavar="COMMAND", required=True)

    def client_command(name: str, help_text: str, func: Any, **kw: Any) -> argparse.ArgumentParser:
        return add_client_command(commands, name, help_text, func, **kw)

    create = client_command("create", "create a link", cmd_create)
    create.add_argument("name", metavar="NAME", help="the link name: lower-case letters, digits and hyphens")
    create.add_argument(
        "--config",
        metavar="KEY=VALUE",
        type=parse_key_value,
        action=KeyValueAction,
        help="a link config setting; repeat for more (see 'clusterlink link config-keys')",
    )
    for side in SIDES:
        _add_connection_arguments(create, side, for_create=True)
    add_sync_arguments(create)

    add_paging_arguments(client_command("list", "list links", cmd_list, mutating=False))

    describe = client_command("describe", "show one link, its config and its tasks", cmd_describe, mutating=False)
    describe.add_argument("name", metavar="NAME")

    update = client_command("update", "change a link's config or connection settings", cmd_update)
    update.add_argument("name", metavar="NAME")
    update.add_argument(
        "--config",
        metavar="KEY=VALUE",
        type=parse_key_value,
        action=KeyValueAction,
        help="set a link config key; repeat for more",
    )
    update.add_argument(
        "--remove-config",
        metavar="KEY",
        action="append",
        help="reset a link config key to its default; repeat for more",
    )
    update.add_argument("--etag", help="refuse the update if the link changed since this etag was read")
    for side in SIDES:
        _add_connection_arguments(update, side, for_create=False)
    add_sync_arguments(update)

    pause = client_command("pause", "pause a link: all its mirror topics stop", cmd_pause)
    pause.add_argument("name", metavar="NAME")

    resume = client_command("resume", "resume a paused link", cmd_resume)
    resume.add_argument("name", metavar="NAME")

    delete = client_command("delete", "delete a link", cmd_delete, with_output=False)
    delete.add_argument("name", metavar="NAME")
    delete.add_argument(
        "--force",
        action="store_true",
        help="delete even if the link has mirror topics (their destination topics are kept)",
    )
    delete.add_argument("--etag", help="refuse the delete if the link changed since this etag was read")

    keys = commands.add_parser(
        "config-keys",
        help="list the link config keys with their defaults",
        description="List the link config keys with their defaults (no service needed).",
    )
    output.add_output_argument(keys)
    keys.set_defaults(func=cmd_config_keys)
