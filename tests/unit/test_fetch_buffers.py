"""The data path's memory: fetch answers' buffers counted whole, and freed of a partition that stopped draining."""

from clusterlink.engine.datapath import batches
from clusterlink.engine.datapath.copier import BUFFER_HOLD_SECONDS, Copier, CopierSettings, Route
from clusterlink.engine.datapath.partition import PartitionState
from clusterlink.kafka.clients import Connection
from clusterlink.kafka.transport import FramePool
from tests.unit.test_partition_state import EPOCH, PID, batch_at


def _copier(now: list[float]) -> Copier:
    settings = CopierSettings(fetch_max_bytes=1 << 20, partition_max_bytes=1 << 20, fetch_max_wait_ms=500,
                              buffer_bytes=1 << 20, max_in_flight=5, produce_connections=1,
                              produce_request_max_bytes=1 << 20, request_timeout_ms=30000, source_timeout_ms=30000)
    copier = Copier("l", Connection("127.0.0.1:1"), Connection("127.0.0.1:1"), settings,
                    store_segments=lambda _s: None, on_resync=lambda _m, _p: None,
                    on_acked=lambda _m, _r, _b: None, on_fenced=lambda _m: None)
    copier._frames = FramePool(largest=1 << 20, clock=lambda: now[0])
    return copier


def _answer(copier: Copier, stuck: PartitionState, drains: PartitionState, base: int) -> None:
    """One fetch answer in a pooled buffer: a small batch of `stuck` and many of `drains`."""
    small, large = batch_at(base, count=2), [batch_at(base + 2 + 40 * i, count=40) for i in range(8)]
    data = b"".join(bytes(b.data) for b in [small, *large])
    view = copier._frames.take(len(data))
    view[:] = data
    found = batches.split_batches(view)
    del view
    stuck.plan(found[:1], PID, EPOCH)
    drains.plan(found[1:], PID, EPOCH)


def _two_partitions(copier: Copier) -> tuple[PartitionState, PartitionState]:
    route = Route(1, "src", "dst")
    stuck, drains = PartitionState.start(1, 0, 0, []), PartitionState.start(1, 1, 0, [])
    route.partitions = {0: stuck, 1: drains}
    copier._routes[1] = route
    copier._queued = {(1, 0): (route, stuck), (1, 1): (route, drains)}
    return stuck, drains


def test_buffers_held_long_with_mostly_sent_batches_are_freed_by_copying_out_what_waits() -> None:
    now = [0.0]
    copier = _copier(now)
    stuck, drains = _two_partitions(copier)
    _answer(copier, stuck, drains, 0)
    _answer(copier, stuck, drains, 1000)
    in_use = copier._frames.bytes_in_use()
    assert copier._buffered_bytes() == in_use and len(copier._frames.in_use()) == 2
    while drains.next_to_send() is not None:
        pass
    drains.inflight.clear()  # written and answered
    # Two whole buffers stay in use for two small batches that cannot go.
    copier._free_old_buffers(now[0])
    assert copier._frames.bytes_in_use() == in_use  # not held long yet
    now[0] = 1.0 + BUFFER_HOLD_SECONDS
    copier._free_old_buffers(now[0])
    assert copier._frames.bytes_in_use() == 0
    assert copier._buffered_bytes() == stuck.owned_bytes == stuck.queued_bytes > 0
    sent = [stuck.next_to_send(), stuck.next_to_send()]
    assert [batches.split_batches(bytes(o.data))[0].base_sequence for o in sent if o] == [0, 2]


def test_buffers_holding_mostly_queued_batches_are_left_as_they_are() -> None:
    now = [0.0]
    copier = _copier(now)
    stuck, drains = _two_partitions(copier)
    _answer(copier, stuck, drains, 0)
    in_use = copier._frames.bytes_in_use()
    now[0] = 10.0
    copier._free_old_buffers(now[0])
    assert copier._frames.bytes_in_use() == in_use and stuck.owned_bytes == drains.owned_bytes == 0
