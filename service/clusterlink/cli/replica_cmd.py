"""`clusterlink replicas list`: the service replicas sharing one database.

Each `clusterlink serve --replica-id ID` on the same database is a replica;
this shows where each listens, when it last heartbeated, and what it owns.
"""

from __future__ import annotations

import argparse
from typing import Any

from clusterlink.cli import output
from clusterlink.cli.client import add_client_command, connect
from clusterlink.v1 import clusterlink_pb2 as pb


def cmd_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        response = client.call("ListReplicas", pb.ListReplicasRequest())
    replicas = list(response.replicas)
    if args.output == "json":
        output.print_json([output.to_dict(r) for r in replicas])
    else:
        print(output.replicas_table(replicas))
    return 0


def register(subparsers: Any) -> None:
    replicas = subparsers.add_parser(
        "replicas",
        help="show the service replicas sharing the database",
        description="Show the service replicas (serve --replica-id) sharing the database.",
    )
    commands = replicas.add_subparsers(dest="replicas_command", metavar="COMMAND", required=True)
    # Never paged: replicas are few (one per serve process).
    add_client_command(commands, "list", "list the replicas, their heartbeats and what they own", cmd_list,
                       mutating=False)
