#!/usr/bin/env python3
"""Mirror one topic with the ClusterLink gRPC API, using the generated Python client.

Creates a link and a mirror topic (both idempotent: running this again reuses them),
waits until the mirror has caught up (every partition at lag 0), then prints the
mirror's status per partition and its offset translation segments.

    python examples/python-client/client.py --topic orders

Defaults match the local sandbox (`clusterlink sandbox up`) and a service started
with `clusterlink serve`. A secured service is reached with the same environment as the
CLI: CLUSTERLINK_TOKEN (bearer token), CLUSTERLINK_TLS_CA_FILE, and for mutual TLS
CLUSTERLINK_TLS_CERT_FILE and CLUSTERLINK_TLS_KEY_FILE.
Exit code 0 when the mirror caught up, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import grpc

from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

RPC_TIMEOUT = 30.0  # seconds, for every single call
FINAL_STATES = (pb.MirrorTopic.FAILED, pb.MirrorTopic.FAILED_OVER, pb.MirrorTopic.PROMOTED)


class ExampleError(Exception):
    """Printed as one line on stderr; exit code 1."""


class Api:
    """The generated stub, with a deadline and the bearer token (if any) on every call."""

    def __init__(self, endpoint: str) -> None:
        token = os.environ.get("CLUSTERLINK_TOKEN", "").strip()
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        ca = os.environ.get("CLUSTERLINK_TLS_CA_FILE", "").strip()
        if ca:
            cert = os.environ.get("CLUSTERLINK_TLS_CERT_FILE", "").strip()
            key = os.environ.get("CLUSTERLINK_TLS_KEY_FILE", "").strip()
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca),
                private_key=_read(key) if key else None,
                certificate_chain=_read(cert) if cert else None,
            )
            self.channel = grpc.secure_channel(endpoint, credentials)
        else:
            self.channel = grpc.insecure_channel(endpoint)
        self.stub = pb_grpc.ClusterLinkServiceStub(self.channel)

    def __getattr__(self, method: str):  # type: ignore[no-untyped-def]
        rpc = getattr(self.stub, method)
        return lambda request: rpc(request, timeout=RPC_TIMEOUT, metadata=self.metadata)

    def close(self) -> None:
        self.channel.close()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default=os.environ.get("CLUSTERLINK_ENDPOINT") or "127.0.0.1:50051",
                   help="the ClusterLink service (default: $CLUSTERLINK_ENDPOINT, else %(default)s)")
    p.add_argument("--source-bootstrap", default="127.0.0.1:19092",
                   help="bootstrap servers of the source cluster (default: %(default)s)")
    p.add_argument("--destination-bootstrap", default="127.0.0.1:29092",
                   help="bootstrap servers of the destination cluster (default: %(default)s)")
    p.add_argument("--topic", default="orders", help="the topic to mirror; must exist on the source (default: %(default)s)")
    p.add_argument("--link", default="python-example",
                   help="the link name: lower-case letters, digits and hyphens (default: %(default)s)")
    p.add_argument("--mirror-topic", default=None,
                   help="the mirror topic's name on the destination (default: the link's "
                        "mirror.topic.prefix followed by --topic)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for the mirror to catch up (default: %(default)s)")
    return p.parse_args(argv)


def ensure_link(stub: Api, args: argparse.Namespace) -> pb.Link:
    """CreateLink; on ALREADY_EXISTS, the existing link if it joins the same clusters."""
    wanted = pb.Link(
        source=pb.ClusterConnection(bootstrap_servers=args.source_bootstrap),
        destination=pb.ClusterConnection(bootstrap_servers=args.destination_bootstrap),
    )
    try:
        link = stub.CreateLink(pb.CreateLinkRequest(link_id=args.link, link=wanted))
        print(f"created link {link.name}")
        return link
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    link = stub.GetLink(pb.GetLinkRequest(name=f"links/{args.link}"))
    if (link.source.bootstrap_servers, link.destination.bootstrap_servers) != (
        args.source_bootstrap, args.destination_bootstrap
    ):
        raise ExampleError(
            f"link {link.name} already exists but joins {link.source.bootstrap_servers} -> "
            f"{link.destination.bootstrap_servers}, not {args.source_bootstrap} -> "
            f"{args.destination_bootstrap}; pass another --link"
        )
    print(f"link {link.name} already exists; reusing it")
    return link


def ensure_mirror(stub: Api, link: pb.Link, args: argparse.Namespace) -> pb.MirrorTopic:
    """CreateMirrorTopic; on ALREADY_EXISTS, the existing mirror if it mirrors the same topic."""
    # The name the service would choose, spelled out so a re-run knows what to look up.
    topic = args.mirror_topic or link.config.get("mirror.topic.prefix", "") + args.topic
    name = f"{link.name}/mirrorTopics/{topic}"
    try:
        mirror = stub.CreateMirrorTopic(pb.CreateMirrorTopicRequest(
            parent=link.name, mirror_topic_id=topic, mirror_topic=pb.MirrorTopic(source_topic=args.topic),
        ))
        print(f"created mirror topic {mirror.name} (source topic {args.topic!r})")
        return mirror
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))
    if mirror.source_topic != args.topic:
        raise ExampleError(
            f"mirror topic {name} already exists but mirrors source topic {mirror.source_topic!r}, "
            f"not {args.topic!r}; pass another --mirror-topic"
        )
    print(f"mirror topic {name} already exists; reusing it")
    return mirror


def caught_up(mirror: pb.MirrorTopic) -> bool:
    """ACTIVE with a status for every partition and nothing left to mirror."""
    return (
        mirror.state == pb.MirrorTopic.ACTIVE
        and len(mirror.partitions) > 0
        and all(p.lag == 0 and p.mirrored_source_offset >= p.source_end_offset for p in mirror.partitions)
    )


def wait_caught_up(stub: Api, name: str, timeout: float) -> pb.MirrorTopic:
    deadline = time.monotonic() + timeout
    last_state = None
    while True:
        mirror = stub.GetMirrorTopic(pb.GetMirrorTopicRequest(name=name))
        if mirror.state != last_state:
            reason = f" ({mirror.reason})" if mirror.reason else ""
            print(f"state {pb.MirrorTopic.State.Name(mirror.state)}{reason}")
            last_state = mirror.state
        if caught_up(mirror):
            return mirror
        if mirror.state in FINAL_STATES:
            raise ExampleError(
                f"mirror topic {name} is {pb.MirrorTopic.State.Name(mirror.state)} and will not catch up"
                + (f": {mirror.reason}" if mirror.reason else "")
            )
        if time.monotonic() >= deadline:
            raise ExampleError(
                f"mirror topic {name} did not catch up within {timeout:g} s "
                f"(state {pb.MirrorTopic.State.Name(mirror.state)}, max lag {mirror.max_lag})"
            )
        time.sleep(0.5)


def print_status(stub: Api, mirror: pb.MirrorTopic) -> None:
    print()
    print(f"mirror topic      {mirror.name}")
    print(f"source topic      {mirror.source_topic}")
    print(f"state             {pb.MirrorTopic.State.Name(mirror.state)}")
    print(f"max lag           {mirror.max_lag}")
    print(f"offset fidelity   {pb.OffsetFidelity.Name(mirror.offset_fidelity)}")
    print()
    header = ("partition", "source start", "source end", "mirror end", "mirrored to", "lag", "fidelity")
    rows = [header] + [
        (str(p.partition), str(p.source_log_start_offset), str(p.source_end_offset), str(p.mirror_end_offset),
         str(p.mirrored_source_offset), str(p.lag), pb.OffsetFidelity.Name(p.offset_fidelity))
        for p in sorted(mirror.partitions, key=lambda p: p.partition)
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))

    segments = stub.ListTranslationSegments(
        pb.ListTranslationSegmentsRequest(name=mirror.name, partition=-1)
    ).segments
    print()
    if not segments:
        print("translation segments: none (every record sits at its source offset)")
        return
    print("translation segments (from source offset on, destination = destination_offset + delta):")
    for s in segments:
        print(f"  partition {s.partition}: source {s.source_offset} -> destination {s.destination_offset}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        stub = Api(args.endpoint)
    except OSError as exc:
        print(f"error: cannot read a TLS file: {exc}", file=sys.stderr)
        return 1
    try:
        link = ensure_link(stub, args)
        mirror = ensure_mirror(stub, link, args)
        mirror = wait_caught_up(stub, mirror.name, args.timeout)
        print_status(stub, mirror)
        return 0
    except ExampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            print(f"error: cannot reach the ClusterLink service at {args.endpoint}: {err.details()}", file=sys.stderr)
        else:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    finally:
        stub.close()


if __name__ == "__main__":
    sys.exit(main())
