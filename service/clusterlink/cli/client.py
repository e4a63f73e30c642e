"""Talking to the ClusterLink service: endpoint resolution, channel and stub,
per-call deadlines, and turning gRPC errors into one line a person can act on."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import grpc

from clusterlink.api.security import ClientSecurity, is_connect_failure
from clusterlink.cli import output
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

ENDPOINT_ENV = "CLUSTERLINK_ENDPOINT"
# A secured service: bearer token and TLS files, from the environment.
TOKEN_ENV = "CLUSTERLINK_TOKEN"
TLS_ENV = {"ca_pem": "CLUSTERLINK_TLS_CA_FILE", "cert_pem": "CLUSTERLINK_TLS_CERT_FILE",
           "key_pem": "CLUSTERLINK_TLS_KEY_FILE"}
DEFAULT_ENDPOINT = "127.0.0.1:50051"
# Deadline of every single RPC, in seconds.
DEFAULT_RPC_TIMEOUT = 30.0

class CliError(Exception):
    """A failure reported as one `error: ...` line on stderr, exit code 1.

    `code` is the gRPC status code when the failure came from a call.
    """

    exit_code = 1

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CliError):
    """Arguments that parse but do not make sense together; exit code 2."""

    exit_code = 2


def resolve_endpoint(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """`--endpoint` if given, else $CLUSTERLINK_ENDPOINT, else 127.0.0.1:50051."""
    if explicit and explicit.strip():
        return explicit.strip()
    env = (os.environ if environ is None else environ).get(ENDPOINT_ENV, "").strip()
    return env or DEFAULT_ENDPOINT


def add_endpoint_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        metavar="HOST:PORT",
        default=None,
        help=f"the ClusterLink service (default: ${ENDPOINT_ENV}, else {DEFAULT_ENDPOINT})",
    )


def add_client_command(
    commands: Any,
    name: str,
    help_text: str,
    func: Any,
    *,
    positionals: tuple[tuple[str, str, str], ...] = (),
    mutating: bool = True,
    with_output: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand that talks to the service: positionals (dest, METAVAR, help),
    --endpoint, -o (lists, describes and mutations) and --validate-only (mutations)."""
    parser = commands.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
    for dest, metavar, help_ in positionals:
        parser.add_argument(dest, metavar=metavar, help=help_)
    add_endpoint_argument(parser)
    if with_output:
        output.add_output_argument(parser)
    if mutating:
        parser.add_argument(
            "--validate-only",
            action="store_true",
            help="validate the request on the service without changing anything",
        )
    parser.set_defaults(func=func)
    return parser


def one_line(text: str) -> str:
    """Fold a possibly multi-line message into one line."""
    parts = [p.strip() for p in text.splitlines() if p.strip()]
    return "; ".join(parts)


def error_from_rpc(err: grpc.RpcError, endpoint: str, timeout: float = DEFAULT_RPC_TIMEOUT) -> CliError:
    """The CliError to report for a failed call to the service at `endpoint`."""
    code = err.code() if callable(getattr(err, "code", None)) else None
    details = (err.details() if callable(getattr(err, "details", None)) else None) or ""
    details = one_line(details)
    if code is None:
        return CliError(details or str(err))
    if code == grpc.StatusCode.UNAVAILABLE and (not details or is_connect_failure(details)):
        return CliError(
            f"cannot reach the ClusterLink service at {endpoint} (is 'clusterlink serve' running?)", code
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and details.lower() in ("", "deadline exceeded"):
        return CliError(
            f"DEADLINE_EXCEEDED: the ClusterLink service at {endpoint} did not answer within {timeout:g} s", code
        )
    return CliError(f"{code.name}: {details}" if details else code.name, code)


class Client:
    """A channel to the service and its stub; use as a context manager.

    `call("GetLink", request)` runs one RPC with a deadline and raises CliError
    (never grpc.RpcError) when it fails.
    """

    def __init__(self, endpoint: str, rpc_timeout: float = DEFAULT_RPC_TIMEOUT,
                 security: ClientSecurity | None = None) -> None:
        self.endpoint = endpoint
        self.rpc_timeout = rpc_timeout
        try:
            self._channel = (security or ClientSecurity()).channel(endpoint)
        except Exception as exc:  # grpc refuses some malformed targets up front
            raise CliError(f"invalid endpoint {endpoint!r}: {exc}") from None
        self.stub = pb_grpc.ClusterLinkServiceStub(self._channel)

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        deadline = self.rpc_timeout if timeout is None else timeout
        rpc = getattr(self.stub, method)
        try:
            return rpc(request, timeout=deadline)
        except grpc.RpcError as err:
            raise error_from_rpc(err, self.endpoint, deadline) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def security_from_env(environ: Mapping[str, str] | None = None) -> ClientSecurity:
    env = os.environ if environ is None else environ
    files: dict[str, bytes | None] = {}
    for field_name, var in TLS_ENV.items():
        path = env.get(var, "").strip()
        try:
            files[field_name] = open(path, "rb").read() if path else None
        except OSError as exc:
            raise CliError(f"cannot read {var}={path}: {exc.strerror}") from None
    return ClientSecurity(token=env.get(TOKEN_ENV, "").strip() or None, **files)


def connect(args: argparse.Namespace) -> Client:
    """A Client for the endpoint the parsed arguments (or the environment) name."""
    return Client(resolve_endpoint(getattr(args, "endpoint", None)), security=security_from_env())


def _page_size(text: str) -> int:
    from clusterlink.config.numbers import NumberError, parse_int

    try:
        return parse_int(text, 1, 1000)
    except NumberError as exc:
        raise argparse.ArgumentTypeError(f"--page-size {exc}") from None


def add_paging_arguments(parser: argparse.ArgumentParser) -> None:
    """--page-size / --page-token: list one page instead of all of them."""
    parser.add_argument("--page-size", type=_page_size, metavar="N",
                        help="list one page of at most N items (1 to 1000) and print the next page token")
    parser.add_argument("--page-token", metavar="TOKEN",
                        help="list the page that starts at TOKEN (printed by the previous page)")


def paging_requested(args: argparse.Namespace) -> bool:
    return getattr(args, "page_size", None) is not None or getattr(args, "page_token", None) is not None


def list_page(client: Client, method: str, request: Any, items_field: str) -> tuple[list[Any], str]:
    """One page of a List call: its items and the next page token ("" at the end)."""
    response = client.call(method, request)
    return list(getattr(response, items_field)), response.next_page_token


def list_all(client: Client, method: str, make_request: Any, items_field: str) -> list[Any]:
    """Every item of a paged List call: `make_request(page_token)` builds each request."""
    items: list[Any] = []
    token = ""
    seen: set[str] = set()
    while True:
        response = client.call(method, make_request(token))
        items.extend(getattr(response, items_field))
        token = response.next_page_token
        if not token or token in seen:
            return items
        seen.add(token)
