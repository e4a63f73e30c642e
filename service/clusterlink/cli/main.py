"""`clusterlink`: the command-line tool.

    clusterlink serve ...                 run the service (serve_cmd)
    clusterlink link create|list|...      manage links (link_cmd)
    clusterlink mirror create|list|...    manage mirror topics (mirror_cmd)
    clusterlink replicas list             service replicas sharing the database (replica_cmd)
    clusterlink sandbox up|status|down    local Kafka clusters (sandbox_cmd)

Failures are reported as one `error: ...` line on stderr with exit code 1
(2 for usage errors); set CLUSTERLINK_DEBUG=1 to see tracebacks of
unexpected errors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from clusterlink.cli import link_cmd, mirror_cmd, replica_cmd
from clusterlink.cli.client import CliError, one_line

DEBUG_ENV = "CLUSTERLINK_DEBUG"

# Command groups written in their own modules; each is optional so that the
# tool keeps working while one is missing or broken.
OPTIONAL_COMMANDS = (
    ("serve", "clusterlink.cli.serve_cmd"),
    ("sandbox", "clusterlink.cli.sandbox_cmd"),
)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("clusterlink")
    except Exception:
        return "unknown"


def _register_unavailable(subparsers: Any, command: str, problem: str) -> None:
    """A stand-in for a command whose module cannot be loaded: it says why."""

    def run(_args: argparse.Namespace) -> int:
        raise CliError(f"the '{command}' command is unavailable: {problem}")

    try:
        parser = subparsers.add_parser(command, help=f"(unavailable: {problem})", add_help=False)
    except (argparse.ArgumentError, ValueError):
        return  # the module registered the name before failing; leave it
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _register_optional(subparsers: Any, command: str, module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return  # not part of this build (yet)
        _register_unavailable(subparsers, command, one_line(f"{type(exc).__name__}: {exc}"))
        return
    except Exception as exc:
        _register_unavailable(subparsers, command, one_line(f"{type(exc).__name__}: {exc}"))
        return
    try:
        module.register(subparsers)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        _register_unavailable(subparsers, command, one_line(f"{type(exc).__name__}: {exc}"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterlink",
        description="ClusterLink: mirror Kafka topics between clusters with identical offsets.",
        epilog="Client commands talk to the service at --endpoint, else $CLUSTERLINK_ENDPOINT, "
        "else 127.0.0.1:50051.",
    )
    parser.add_argument("--version", action="version", version=f"clusterlink {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_optional(subparsers, *OPTIONAL_COMMANDS[0])
    link_cmd.register(subparsers)
    mirror_cmd.register(subparsers)
    replica_cmd.register(subparsers)
    for command, module_name in OPTIONAL_COMMANDS[1:]:
        _register_optional(subparsers, command, module_name)
    return parser


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (2)
        return _exit_code(exc.code)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        return 2
    try:
        code = _exit_code(func(args))
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except CliError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`clusterlink link list | head`): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 1
    except SystemExit as exc:
        return _exit_code(exc.code)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        message = one_line(str(exc)) or "no details"
        print(
            f"error: unexpected {type(exc).__name__}: {message} (set {DEBUG_ENV}=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
