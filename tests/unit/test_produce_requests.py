"""The data path's Produce requests: the size limit holds for a request as a whole."""

from clusterlink.engine.datapath.copier import Copier, CopierSettings, Route
from clusterlink.engine.datapath.partition import Outgoing, PartitionState
from clusterlink.kafka.clients import Connection

NODE = 1
KIB = 1024


class _Future:
    def add_callback(self, *_args: object) -> "_Future":
        return self

    def add_errback(self, *_args: object) -> "_Future":
        return self


class _Lane:
    """Keeps each request's batch sizes; nothing goes on the network."""

    def __init__(self) -> None:
        self.requests: list[list[int]] = []

    def send(self, req: object, node_id: int) -> _Future:
        self.requests.append([len(pd.records) for td in req.topic_data for pd in td.partition_data])
        return _Future()


def _requests(limit: int, batches: dict[int, list[int]]) -> list[list[int]]:
    """Batch sizes per request when partitions with these queued batch sizes are sent."""
    settings = CopierSettings(fetch_max_bytes=1 << 20, partition_max_bytes=1 << 20, fetch_max_wait_ms=500,
                              buffer_bytes=1 << 24, max_in_flight=5, produce_connections=1,
                              produce_request_max_bytes=limit, request_timeout_ms=30000, source_timeout_ms=30000)
    copier = Copier("l", Connection("127.0.0.1:1"), Connection("127.0.0.1:1"), settings,
                    store_segments=lambda _s: None, on_resync=lambda _m, _p: None,
                    on_acked=lambda _m, _r, _b: None, on_fenced=lambda _m: None)
    lane = _Lane()
    copier._lanes = [lane]
    route = Route(1, "src", "dst")
    parts = []
    for partition, sizes in batches.items():
        st = PartitionState(1, partition, next_src=0, next_dst=0)
        for i, size in enumerate(sizes):
            st.queue.append(Outgoing(data=bytes(size), dst_base=i, count=1, src_next=i + 1, reencoded=False))
        route.partitions[partition] = st
        parts.append((route, st))
    while copier._send_produce(NODE, 0, parts):
        pass
    return lane.requests


def test_a_request_stops_before_the_batch_that_would_take_it_past_the_limit() -> None:
    # Two 256 KiB batches make 512 KiB: past a 480 KiB limit, so they go one by one,
    # and a small batch of another partition still joins the first request.
    assert _requests(480 * KIB, {0: [256 * KIB], 1: [256 * KIB], 2: [8 * KIB]}) == [
        [256 * KIB, 8 * KIB], [256 * KIB]]


def test_a_batch_larger_than_the_limit_still_goes_alone() -> None:
    assert _requests(480 * KIB, {0: [600 * KIB], 1: [8 * KIB]}) == [[600 * KIB], [8 * KIB]]


def test_batches_that_fit_share_a_request() -> None:
    assert _requests(480 * KIB, {p: [100 * KIB] for p in range(4)}) == [[100 * KIB] * 4]
