"""Reading a partition's record batches as the broker stores them (for byte-level checks)."""

from __future__ import annotations

from dataclasses import dataclass

from kafka.net import KafkaConnectionManager, NetworkSelector

from clusterlink.engine.datapath import batches
from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection


@dataclass(frozen=True)
class RawBatch:
    base_offset: int
    last_offset: int
    record_count: int
    codec: int
    is_control: bool
    payload: bytes  # the records as stored: compressed bytes for a compressed batch


def read_batches(bootstrap: str, topic: str, partition: int, end: int,
                 parsers: list[type] | None = None) -> list[RawBatch]:
    """Every batch of the partition up to offset `end`, read uncommitted.

    With `parsers`, the read goes through the data path's own connection manager
    and the list gets the class of the parser each answer came through.
    """
    net = NetworkSelector()
    manager = (KafkaConnectionManager(net, bootstrap_servers=bootstrap) if parsers is None else
               wire.new_manager(net, Connection(bootstrap), request_timeout_ms=10000, max_in_flight=1,
                                receive_max_bytes=16 << 20, client_id="raw-batches"))
    out: list[RawBatch] = []
    try:
        manager.bootstrap(timeout_ms=10000)
        (node,) = [b.node_id for b in manager.cluster.brokers()][:1]
        offset = 0
        while offset < end:
            async def fetch(at: int = offset):  # type: ignore[no-untyped-def]
                req = wire.fetch_request({topic: [(partition, at)]}, max_wait_ms=100,
                                         max_bytes=8 << 20, partition_max_bytes=8 << 20)
                req.isolation_level = 0
                return await manager.send(req, node_id=node)
            resp = net.run(fetch)
            if parsers is not None:
                parsers.append(type(manager._conns[node].parser))
            pd = resp.responses[0].partitions[0]
            assert pd.error_code == 0, f"fetch {topic}-{partition}@{offset}: error {pd.error_code}"
            found = [b for b in batches.split_batches(pd.records) if b.next_offset > offset]
            assert found, f"no batch at {topic}-{partition}@{offset}"
            for b in found:
                out.append(RawBatch(b.base_offset, b.last_offset, b.record_count, b.codec, b.is_control,
                                    batches.payload(b)))
            offset = found[-1].next_offset
    finally:
        manager.close()
        net.close()
    return out
