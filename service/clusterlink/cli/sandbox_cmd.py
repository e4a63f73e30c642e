"""`clusterlink sandbox up|status|down`: two local Kafka clusters to try ClusterLink on.

    clusterlink sandbox up [--dir D] [--source-port P] [--destination-port Q] [--secure]
    clusterlink sandbox status [--dir D] [-o json]   exit 0 when both run, 3 otherwise
    clusterlink sandbox down [--dir D]

`--secure`: SASL_SSL (SCRAM-SHA-512) client listeners, a CA per cluster, ACLs; users
`admin` (super user) and `linker` (only the ACLs a link needs). `status -o json`
shows where the CA and the password files are.

Errors are one `error: ...` line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clusterlink.cli.output import add_output_argument, print_json

EXIT_NOT_RUNNING = 3  # like `systemctl status`: not an error, but not running


def register(subparsers: Any) -> None:
    """Add `sandbox` and its sub-commands to an argparse subparsers object."""
    sandbox = subparsers.add_parser(
        "sandbox",
        help="run a local source and destination Kafka cluster (real Apache Kafka, KRaft)",
        description="Two single-node Apache Kafka clusters on 127.0.0.1, run from the Maven "
        "Central jars with this machine's Java (17+).",
    )
    commands = sandbox.add_subparsers(dest="sandbox_command", metavar="{up,status,down}", required=True)

    up = commands.add_parser("up", help="start both clusters (harmless when already running)")
    _add_dir(up)
    up.add_argument("--source-port", type=_port, default=None, metavar="PORT",
                    help="client port of the source cluster (default 19092; the controller uses PORT+1)")
    up.add_argument("--destination-port", type=_port, default=None, metavar="PORT",
                    help="client port of the destination cluster (default 29092; the controller uses PORT+1)")
    up.add_argument("--secure", action=argparse.BooleanOptionalAction, default=None,
                    help="SASL_SSL (SCRAM-SHA-512) with a generated CA, ACLs, users admin and linker; "
                    "an existing sandbox keeps what it is (changing it needs `sandbox down` first)")
    up.set_defaults(func=_guarded(_up))

    status = commands.add_parser("status", help="show whether both clusters run and answer")
    _add_dir(status)
    add_output_argument(status)
    status.set_defaults(func=_guarded(_status))

    down = commands.add_parser("down", help="stop both clusters and delete their data")
    _add_dir(down)
    down.set_defaults(func=_guarded(_down))


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None, metavar="DIR",
                        help="sandbox folder (default: the user cache folder, .../clusterlink/sandbox)")


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65534:  # PORT+1 must be a port too
        raise argparse.ArgumentTypeError(f"{text} is not a usable port (1-65534)")
    return port


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report a SandboxError as one line (its first: the rest is a log tail) and exit 1."""

    def guarded(args: argparse.Namespace) -> int:
        from clusterlink.sandbox.jars import SandboxError

        try:
            return run(args)
        except SandboxError as exc:
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "sandbox failed")
            print(f"error: {first}", file=sys.stderr)
            return 1

    return guarded


def _up(args: argparse.Namespace) -> int:
    from clusterlink.sandbox import sandbox

    info = sandbox.up(args.dir, args.source_port, args.destination_port, secure=args.secure)
    for role in sandbox.ROLES:
        print(f"{role:<11} {info.cluster(role).bootstrap}")
    print(f"{'folder':<11} {info.folder}")
    if info.secure:
        print(f"{'security':<11} SASL_SSL SCRAM-SHA-512, users admin and linker "
              "(`clusterlink sandbox status -o json` shows the CA and password files)")
    if info.already_running:
        print("sandbox was already running", file=sys.stderr)
    else:
        print(f"sandbox started in {info.seconds:.1f}s", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from clusterlink.sandbox import sandbox

    state = sandbox.status(args.dir)
    if args.output == "json":
        print_json({role: _status_dict(state.cluster(role)) for role in sandbox.ROLES})
        return 0 if state.running else EXIT_NOT_RUNNING
    if not state.exists:
        print(f"no sandbox in {state.folder}")
        return EXIT_NOT_RUNNING
    for role in sandbox.ROLES:
        cluster = state.cluster(role)
        if cluster is None:
            print(f"{role:<11} -  missing")
            continue
        if cluster.running:
            word = "running"
        elif cluster.stopped:
            word = "stopped"
        else:
            word = "unhealthy"
        pids = ",".join(str(n.pid) for n in cluster.nodes if n.pid is not None)
        print(f"{role:<11} {cluster.bootstrap}  {word}" + (f" (pid {pids})" if pids else ""))
    print(f"{'folder':<11} {state.folder}")
    if any(c is not None and c.security is not None for c in (state.source, state.destination)):
        print(f"{'security':<11} SASL_SSL SCRAM-SHA-512 (`-o json` shows the CA and password files)")
    return 0 if state.running else EXIT_NOT_RUNNING


def _status_dict(cluster: Any) -> dict[str, Any]:
    """One cluster in `status -o json`: nulls and no users for a missing or plain cluster."""
    if cluster is None:
        return {"bootstrap": None, "ca_file": None, "users": {}, "running": False}
    security = cluster.security
    return {
        "bootstrap": cluster.bootstrap,
        "ca_file": str(security.ca_file) if security is not None else None,
        "users": {user: {"password_file": str(security.password_file(user))} for user in security.users}
        if security is not None else {},
        "running": cluster.running,
    }


def _down(args: argparse.Namespace) -> int:
    from clusterlink.sandbox import sandbox

    folder = (args.dir or sandbox.default_folder()).absolute()
    if sandbox.down(folder):
        print(f"sandbox in {folder} stopped and removed")
    else:
        print(f"no sandbox in {folder}")
    return 0
