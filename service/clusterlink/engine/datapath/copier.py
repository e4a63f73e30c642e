"""The data path of one link: raw batches from the source to the destination.

One thread per link drives one kafka-python network selector that holds
connections to each source broker and each destination broker. It keeps one
Fetch in flight per source broker (every mirror partition that broker leads,
in one request; a second connection lets a restarted fetch session ask at once
while the old session's last request is still out) and, per destination
broker, `produce_connections`
connections with up to `max_in_flight` Produce requests each (one batch per
partition each). A broker answers one connection's requests one at a time:
large batches spread over the connections so the broker validates and
appends them on several cores, small ones share one so each request carries
many partitions (see _lane_for). Batches are forwarded as they are: only
their header changes (see batches.rewrite_header), in the buffer their Fetch
answer arrived in (see transport.FramePool); nothing copies them on the way.

Nothing here decides lifecycle states or talks to the store, except one
call: translation segments are handed to `store_segments` and must be
stored before any batch past them is produced. A partition that needs a
new start point (a refused write, a lost connection, offsets out of range)
stops and is reported through `on_resync`; the runtime's scheduler finds
the destination's end offset and calls `resume`.

The loop never spins: it waits in the selector on the network or a timer,
and other threads wake it with `wakeup`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka.consumer.fetcher import FetchRequestData, FetchSessionHandler
from kafka.net import NetworkSelector
from kafka.structs import TopicPartition

from clusterlink.engine.datapath import batches as wire_batches
from clusterlink.engine.datapath.partition import PartitionState, Phase, Planned, UnreadableBatch
from clusterlink.engine.segments import Segment
from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection
from clusterlink.kafka.transport import FramePool

log = logging.getLogger(__name__)

# A batch at least this large may go through any destination connection
# (see lane_for); smaller ones share the first.
LANE_SPREAD_BYTES = 64 * 1024
# After a route is added, the next fetch from each source node asks for this much,
# the ones after it for fetch_max_bytes: a new mirror's first batches go out after
# a small answer, not after a full one (tens of MiB to receive, decode and rewrite
# before the first Produce), and the full fetch arrives while they are in flight.
FIRST_FETCH_BYTES = 1 << 20
# The least one partition may take of a fetch smaller than fetch_max_bytes.
MIN_PARTITION_SHARE = 64 * 1024
# What a Fetch answer may hold beyond its records limit (topic names, offsets, aborted transactions).
FETCH_ANSWER_OVERHEAD = 1 << 20
# While fetching waits for the buffer limit, a fetch answer's buffer still in use after
# this long holds batches of a partition that stopped draining (or a slow destination):
# see _free_old_buffers. In a busy link a buffer's batches go out within a second.
BUFFER_HOLD_SECONDS = 2.0


def fetch_limits(budget: int, partitions: int, fetch_max: int, partition_max: int) -> tuple[int, int]:
    """(max bytes, partition max bytes) of a fetch from one node for `partitions` partitions.

    Below fetch_max, `budget` is shared out evenly, so every partition of a new
    mirror starts at once rather than the first one taking it all. At full size
    the link's own limits apply as they are.
    """
    if budget >= fetch_max:
        return fetch_max, partition_max
    share = max(budget // max(partitions, 1), MIN_PARTITION_SHARE)
    return budget, min(partition_max, share)


def lane_for(inflight_lane: int | None, batch_bytes: int, spread: int, lanes: int) -> int:
    """The destination connection (lane) a partition's next batch goes through.

    A partition with writes in flight stays on their lane, which keeps its
    batches in order. Otherwise a small batch takes the first lane, so one
    request carries as many partitions as possible (its cost is per
    request), and a large one the partition's own lane, `spread` modulo the
    lanes (its cost is per byte, which the broker spends on several cores
    when the bytes come over several connections).
    """
    if inflight_lane is not None:
        return inflight_lane
    if lanes > 1 and batch_bytes >= LANE_SPREAD_BYTES:
        return spread % lanes
    return 0

# mirror id -> partition -> segments to store
SegmentBatch = dict[int, dict[int, list[Segment]]]


class MetadataAsk:
    """Asks a cluster for metadata once until its next answer.

    A partition without a known leader needs fresh metadata. Asking again on
    every turn of the loop wakes the selector at once each time: a busy loop for
    as long as the leader is missing (a topic just created, a broker down)."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.asked = False

    def ask(self) -> None:
        if not self.asked:
            self.asked = True
            self.cluster.request_update()

    def answered(self, _cluster: Any = None) -> None:
        self.asked = False


@dataclass(frozen=True)
class CopierSettings:
    fetch_max_bytes: int
    partition_max_bytes: int
    fetch_max_wait_ms: int
    buffer_bytes: int              # most bytes queued for the destination, whole link (buffers counted whole)
    max_in_flight: int             # produce requests per destination connection
    produce_connections: int       # connections per destination broker
    produce_request_max_bytes: int
    request_timeout_ms: int        # Produce (acks=all) on the destination
    source_timeout_ms: int         # a Fetch answer, beyond its max wait


@dataclass
class Route:
    """One mirror topic in the data path."""

    mirror_id: int
    source_topic: str
    topic: str
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    # The mirror's idempotent producer id on the destination (epoch 0), kept
    # for the mirror's whole life: every batch's sequence is its destination
    # offset, so the broker fences late and duplicate writes of any session.
    producer_id: int = -1
    # The destination topic's partitions when the route was made (prepared or adopted);
    # `partitions` holds the ones this replica copies.
    partition_count: int = 0
    # Partitions given away with writes still in flight (stopping waits for them).
    draining: list[PartitionState] = field(default_factory=list)


@dataclass
class Counters:
    """Totals since the runtime started, read by the metrics and the status step."""

    records: int = 0
    bytes: int = 0


@dataclass
class _Walk:
    # source node -> {(source topic, partition): state} for partitions that fetch now
    wanted: dict[int, dict[tuple[str, int], PartitionState]]
    # source node -> {(source topic, partition): next source offset}
    offsets: dict[int, dict[tuple[str, int], int]]
    # source node -> {(source topic, partition): (state, next source offset)}: what a fetch asks
    asked: dict[int, dict[tuple[str, int], tuple[PartitionState, int]]]
    missing: bool        # some partition has no known leader
    number: int          # the walks planned before it, and it


class Copier:
    def __init__(self, name: str, source: Connection, destination: Connection,
                 settings: CopierSettings, store_segments: Callable[[SegmentBatch], None],
                 on_resync: Callable[[int, int], None], on_acked: Callable[[int, int, int], None],
                 on_fenced: Callable[[int], None], may_write: Callable[[], bool] = lambda: True,
                 on_metadata: Callable[[str], None] = lambda _cluster: None):
        self.name = name
        # False while this replica cannot prove it owns its partitions (a frozen
        # process that just woke): nothing is sent until it can.
        self._may_write = may_write
        self.settings = settings
        self.producer_epoch = 0
        self._store_segments = store_segments
        self._on_resync = on_resync
        self._on_acked = on_acked
        self._on_fenced = on_fenced
        self._on_metadata = on_metadata  # called with "source" or "destination" per metadata answer
        self._source, self._destination = source, destination
        self._net: NetworkSelector | None = None
        self._routes: dict[int, Route] = {}
        self._inbox: deque[Callable[[], None]] = deque()
        self._events: deque[Callable[[], None]] = deque()
        # Two connections per source broker: a session restarted while its fetch is
        # out (a mirror starts, a partition resyncs or changes hands) sends its first
        # request on the other one at once, rather than after the broker answered
        # the old request, which it may hold for up to fetch_max_wait_ms.
        self._fetch_conns: list[Any] = []
        # The buffers fetch answers arrive in: their batches are queued and written from there.
        self._frames = FramePool(largest=settings.fetch_max_bytes + FETCH_ANSWER_OVERHEAD,
                                 keep_bytes=settings.buffer_bytes)
        self._buffers_checked = 0.0
        self._fetching: dict[int, dict[int, int]] = {}  # source node -> {connection: session restarts when sent}
        self._fetch_nodes: set[int] = set()        # source nodes that led a partition at the last walk
        self._producing: dict[tuple[int, int], int] = {}  # (destination node, lane) -> requests in flight
        self._lanes: list[Any] = []                 # one connection manager per produce connection
        self._lane_of: dict[tuple[int, int], int] = {}  # (mirror id, partition) -> lane of its writes in flight
        # Partitions that may have batches queued, so that neither a busy nor an
        # idle link walks all its partitions on every turn of the loop.
        self._queued: dict[tuple[int, int], tuple[Route, PartitionState]] = {}
        self._retry_at: dict[tuple[str, int], float] = {}
        self._stopping: list[tuple[Route, Callable[[Route], None]]] = []
        self._sessions: dict[int, FetchSessionHandler] = {}  # source node -> its fetch session
        self._asked_offsets: dict[int, dict[tuple[str, int], int]] = {}  # source node -> last request's offsets
        self._full_fetch: set[int] = set()  # source nodes fetched from since the last route was added
        # Source node -> (monotonic time of its last good fetch answer, the latest walk
        # a request it answered was planned in). A partition's time is its node's
        # (fetched_at): setting a time on each of thousands of partitions on every,
        # mostly empty, answer showed in the idle profile.
        self._answered: dict[int, tuple[float, int]] = {}
        self._walks = 0  # walks planned so far
        self._session_restarts = 0  # how often _restart_sessions ran: tells a fetch sent before from one after
        # The last walk over every partition: what to fetch from which source
        # node. Kept while nothing it depends on changed, so an idle link does
        # not walk thousands of partitions on every fetch answer; dropped by
        # `_invalidate` on any change of routes, phases, offsets, queues or leaders.
        self._walk: _Walk | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"link-{name}-data", daemon=True)
        self.error: BaseException | None = None
        self.source_error = ""                     # last whole-request fetch failure, "" when healthy
        # Grows with every change a status could show (routes, phases, offsets, source
        # ends): the status step skips a link whose data path has not moved. Raised
        # after the loop's turn made the changes, never before them: a status step that
        # read the old number while they were half made looks again.
        self.version = 0
        self._moved = False

    # -- commands from other threads ----------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wakeup(self) -> None:
        net = self._net
        if net is not None:
            net.wakeup()

    def _send(self, command: Callable[[], None]) -> None:
        self._inbox.append(command)
        self.wakeup()

    def add(self, route: Route) -> None:
        self._send(lambda: self._add(route))

    def remove(self, mirror_id: int, on_stopped: Callable[[Route | None], None] | None = None) -> None:
        """Stops copying a mirror; `on_stopped(route)` runs (on this thread) once
        none of its writes is in flight any more, so nothing of it can land after
        (`on_stopped(None)` at once when it was not copied here at all)."""
        def apply() -> None:
            route = self._routes.pop(mirror_id, None)
            if on_stopped is not None:
                if route is None:
                    on_stopped(None)
                else:
                    self._stopping.append((route, on_stopped))
            self._track_used_topics()
        self._send(apply)

    def resume(self, mirror_id: int, partition: int, dst_end: int, segments: list[Segment]) -> None:
        def apply() -> None:
            route = self._routes.get(mirror_id)
            state = route.partitions.get(partition) if route else None
            if state is not None and state.phase is Phase.RESYNC:
                state.resume_at(dst_end, segments)
                self._restart_sessions()
        self._send(apply)

    def own(self, mirror_id: int, wanted: frozenset[int], partition_count: int,
            reencoded: dict[int, int]) -> None:
        """This replica's share of a mirror is now `wanted` (applied in order with
        every other command, so a quick give-and-take is never lost). A partition
        given away stops at once; its writes in flight may still land, and the
        next owner's first write with the same sequence is refused, so offsets
        never shift. A partition taken over waits for its start point (resync)."""
        def apply() -> None:
            route = self._routes.get(mirror_id)
            if route is None or set(route.partitions) == wanted:
                return
            # A new dict, not a changed one: other threads iterate the old one.
            parts: dict[int, PartitionState] = {}
            route.draining = [st for st in route.draining if st.inflight]
            for p, st in route.partitions.items():
                if p in wanted:
                    parts[p] = st
                else:
                    self._lane_of.pop((mirror_id, p), None)
                    if st.inflight:
                        route.draining.append(st)  # a stop of the mirror waits for these too
            taken = wanted - parts.keys()
            for p in taken:
                parts[p] = PartitionState.awaiting(mirror_id, p)
                parts[p].reencoded_batches = reencoded.get(p, 0)
            route.partitions = parts
            # Not raised by `wanted`: the count says how many partitions the destination
            # topic was prepared with, and the control replica grows it (topology).
            route.partition_count = max(route.partition_count, partition_count)
            self._restart_sessions()
            for p in sorted(taken):
                self._on_resync(mirror_id, p)
        self._send(apply)

    def routes(self) -> dict[int, Route]:
        """The live routes; callers only read them (single ints are read atomically)."""
        return dict(self._routes)

    # -- the loop ------------------------------------------------------------

    def _run(self) -> None:
        s = self.settings
        self._net = NetworkSelector(slow_task_threshold_secs=2.0)
        client_id = f"clusterlink-{self.name}"
        # One request more than the data path uses, so metadata requests
        # always find a connection that is not at its in-flight limit.
        self._fetch_conns = [wire.new_manager(self._net, self._source, frames=self._frames, max_in_flight=2,
                                              receive_max_bytes=s.fetch_max_bytes + FETCH_ANSWER_OVERHEAD,
                                              client_id=client_id,
                                              request_timeout_ms=s.source_timeout_ms + s.fetch_max_wait_ms)
                             for _ in range(2)]
        self._src = self._fetch_conns[0]
        self._fetch_conns[1].cluster = self._src.cluster  # connects on first use only
        self._lanes = [wire.new_manager(self._net, self._destination, max_in_flight=s.max_in_flight + 1,
                                        receive_max_bytes=1 << 24, client_id=client_id,
                                        request_timeout_ms=s.request_timeout_ms)
                       for _ in range(s.produce_connections)]
        self._dst = self._lanes[0]
        # Every lane finds brokers through the first lane's metadata, the one
        # that is refreshed; a lane only adds its own connection per broker.
        for lane in self._lanes[1:]:
            lane.cluster = self._dst.cluster
        self._src_leaders, self._dst_leaders = MetadataAsk(self._src.cluster), MetadataAsk(self._dst.cluster)
        try:
            self._src.cluster.add_listener(lambda _cluster: self._invalidate())
            self._src.cluster.add_listener(self._src_leaders.answered)
            self._dst.cluster.add_listener(self._dst_leaders.answered)
            self._src.cluster.add_listener(lambda _cluster: self._on_metadata("source"))
            self._dst.cluster.add_listener(lambda _cluster: self._on_metadata("destination"))
            self._src.cluster.start_refresh_loop()
            self._dst.cluster.start_refresh_loop()
            while not self._stop.is_set():
                while self._inbox:
                    self._inbox.popleft()()
                    self._invalidate()
                while self._events:
                    self._events.popleft()()
                if self._stopping:
                    self._report_stopped()
                if self._moved:
                    self._moved = False
                    self.version += 1
                self._fetch()
                self._produce()
                self._net.poll(timeout_ms=self._poll_timeout_ms())
        except BaseException as exc:  # noqa: BLE001 - reported by the runtime, never silent
            log.exception("link %s: the data path stopped", self.name)
            self.error = exc
        finally:
            for conn in reversed(self._fetch_conns):
                conn.close()
            for lane in reversed(self._lanes):
                lane.close()
            self._net.close()

    def _report_stopped(self) -> None:
        settled = [(r, cb) for r, cb in self._stopping
                   if all(not st.inflight for st in [*r.partitions.values(), *r.draining])]
        for item in settled:
            self._stopping.remove(item)
            route, callback = item
            for p in route.partitions:
                self._lane_of.pop((route.mirror_id, p), None)
            try:
                callback(route)
            except Exception:  # noqa: BLE001 - a callback never stops the data path
                log.exception("link %s: reporting mirror %s stopped failed", self.name, route.mirror_id)
        if settled:
            self._track_used_topics()

    def _poll_timeout_ms(self) -> int:
        if self._inbox or self._events:
            return 0
        now = time.monotonic()
        # A backoff that has run out is over: forget it, or it would make
        # every later wait zero (a spinning loop).
        for key in [k for k, until in self._retry_at.items() if until <= now]:
            del self._retry_at[key]
        soonest = min((until - now for until in self._retry_at.values()), default=1.0)
        return int(min(soonest, 1.0) * 1000)

    def _add(self, route: Route) -> None:
        self._routes[route.mirror_id] = route
        self._restart_sessions()
        self._full_fetch.clear()
        for topic in (route.source_topic,):
            self._src.cluster.add_topic(topic)
        self._dst.cluster.add_topic(route.topic)

    def _track_used_topics(self) -> None:
        """Metadata is asked only for the topics of routes that run or still drain
        writes: a removed mirror's topic may be deleted next, and a refresh that
        names it would log it as missing every time."""
        routes = [*self._routes.values(), *(route for route, _ in self._stopping)]
        wire.track_only(self._src.cluster, {r.source_topic for r in routes})
        wire.track_only(self._dst.cluster, {r.topic for r in routes})

    def _restart_sessions(self) -> None:
        """The next fetches are full ones: every partition's state comes back, also
        for partitions that (re)joined with no news (an incremental answer omits them)."""
        self._fetch_nodes = set()
        self._session_restarts += 1
        for session in self._sessions.values():
            session.next_metadata = session.next_metadata.next_close_existing()

    def _backoff(self, key: tuple[str, int], seconds: float) -> None:
        self._retry_at[key] = time.monotonic() + seconds

    def _ready(self, key: tuple[str, int]) -> bool:
        until = self._retry_at.get(key)
        if until is None:
            return True
        if until <= time.monotonic():
            del self._retry_at[key]
            return True
        return False

    # -- fetching --------------------------------------------------------------

    def _buffered_bytes(self) -> int:
        """The memory queued batches hold: the fetch answers' buffers in use, each as a
        whole, and the batches with bytes of their own."""
        return self._frames.bytes_in_use() + sum(st.owned_bytes for _route, st in self._queued.values())

    def _free_old_buffers(self, now: float) -> bool:
        """Over the limit, a buffer held for long that is mostly batches already sent
        (a partition that stopped draining keeps a whole fetch answer alive): the
        batches still queued in it get bytes of their own, and the buffer is freed.
        Looked at once a second at most: it walks every queued batch. True when it
        copied any batch out."""
        if now < self._buffers_checked + 1.0:
            return False
        self._buffers_checked = now
        queued = [st for _route, st in self._queued.values()]
        copied = 0
        for buf, answer_bytes in self._frames.held_longer_than(BUFFER_HOLD_SECONDS):
            waiting = sum(st.bytes_in(buf) for st in queued)
            if 0 < 2 * waiting < answer_bytes:
                copied += sum(st.copy_out(buf) for st in queued)
        return copied > 0

    def _fetch(self) -> None:
        if not self._routes:
            return
        limit = self.settings.buffer_bytes
        if self._buffered_bytes() >= limit:
            # Counted again only when old buffers were freed: this runs on every turn of the loop.
            if not self._free_old_buffers(time.monotonic()) or self._buffered_bytes() >= limit:
                return
        if self._fetch_nodes and all(self._fetch_out(node) for node in self._fetch_nodes):
            # Every broker that led a partition at the last walk has a fetch in
            # flight; a partition that moved elsewhere waits for one answer
            # (at most the fetch wait).
            return
        if self._walk is None:
            self._walk = self._plan_walk()
        walk = self._walk
        if walk.missing:
            self._src_leaders.ask()
        self._fetch_nodes = set(walk.wanted)
        for node in walk.wanted:
            conn = self._free_fetch_conn(node)
            if conn is None or self._fetch_out(node) or not self._ready(("fetch", node)):
                continue
            session = self._sessions.setdefault(node, FetchSessionHandler(node))
            offsets = walk.offsets[node]
            budget = self.settings.fetch_max_bytes if node in self._full_fetch else FIRST_FETCH_BYTES
            self._full_fetch.add(node)
            max_bytes, partition_max = fetch_limits(budget, len(offsets), self.settings.fetch_max_bytes,
                                                    self.settings.partition_max_bytes)
            asked_before = self._asked_offsets.get(node)
            if not session.next_metadata.is_full and (asked_before is offsets or asked_before == offsets):
                # Nothing moved since the last request of this session (an idle
                # link): the request names no partition at all. (Mostly the same
                # walk's dict: comparing thousands of entries twice a second showed
                # in the idle profile.)
                data = FetchRequestData(None, None, session.next_metadata)
            else:
                data = session.build_next({
                    TopicPartition(topic, p): wire.fetch_partition(p, offset, partition_max)
                    for (topic, p), offset in offsets.items()
                })
            self._asked_offsets[node] = offsets
            req = wire.session_fetch_request(data, max_wait_ms=self.settings.fetch_max_wait_ms, max_bytes=max_bytes)
            restarts = self._session_restarts
            self._fetching.setdefault(node, {})[conn] = restarts
            asked = walk.asked[node]
            future = self._fetch_conns[conn].send(req, node_id=node)
            future.add_callback(lambda resp, n=node, a=asked, w=walk.number, g=restarts, c=conn:
                                self._events.append(lambda: self._fetched(n, a, w, resp, g, c)))
            future.add_errback(lambda exc, n=node, g=restarts, c=conn:
                               self._events.append(lambda: self._fetch_failed(n, exc, g, c)))

    def _fetch_out(self, node: int) -> bool:
        """A fetch of the current sessions is in flight to `node`."""
        return self._session_restarts in self._fetching.get(node, {}).values()

    def _free_fetch_conn(self, node: int) -> int | None:
        busy = self._fetching.get(node, {})
        return next((i for i in range(len(self._fetch_conns)) if i not in busy), None)

    def _plan_walk(self) -> _Walk:
        """Every partition that fetches now, by the source node that leads it."""
        cluster = self._src.cluster
        cap = self.settings.partition_max_bytes * 4
        self._walks += 1
        walk = _Walk({}, {}, {}, False, self._walks)
        for route in self._routes.values():
            for p, st in route.partitions.items():
                if st.phase is not Phase.RUNNING:
                    self._fetched_from(st, None)
                    continue
                leader = cluster.leader_for_partition(TopicPartition(route.source_topic, p))
                if leader is None or leader < 0:
                    walk.missing = True
                    self._fetched_from(st, None)
                    continue
                if st.queued_bytes >= cap:
                    # Waiting for its queue to drain, it still counts as answered
                    # while its source node answers: the source is not what holds it.
                    self._fetched_from(st, leader)
                    continue
                # A fetch names a source partition once: when a link mirrors it twice,
                # the mirror further behind fetches first, so neither waits for ever.
                wanted = walk.wanted.setdefault(leader, {})
                held = wanted.get((route.source_topic, p))
                if held is None or st.next_src < held.next_src:
                    wanted[(route.source_topic, p)] = st
                    if held is not None:
                        self._fetched_from(held, None)
                else:
                    self._fetched_from(st, None)
        for node, wanted in walk.wanted.items():
            walk.offsets[node] = {key: st.next_src for key, st in wanted.items()}
            walk.asked[node] = {key: (st, st.next_src) for key, st in wanted.items()}
            for st in wanted.values():
                self._fetched_from(st, node)
        return walk

    def fetched_at(self, st: PartitionState) -> float:
        """Monotonic time of the last good fetch answer for `st`'s partition (0 before any)."""
        if st.fetch_node is None:
            return st.last_fetch_ok
        at, walk = self._answered.get(st.fetch_node, (0.0, 0))
        # Only an answer to a request sent since the partition joined its node names it.
        return max(st.last_fetch_ok, at) if walk >= st.fetch_walk else st.last_fetch_ok

    def _fetched_from(self, st: PartitionState, node: int | None) -> None:
        """`st` is fetched from `node` from the walk being planned on (None: from no
        node; its time stands still)."""
        if st.fetch_node != node:
            st.last_fetch_ok = self.fetched_at(st)
            st.fetch_node, st.fetch_walk = node, self._walks

    def _invalidate(self) -> None:
        self._walk = None
        self._moved = True

    def _fetch_failed(self, node: int, exc: BaseException, restarts: int, conn: int) -> None:
        self._invalidate()
        self._fetching.get(node, {}).pop(conn, None)
        if restarts != self._session_restarts:
            return  # the old session's request: the current one reports for the node
        session = self._sessions.get(node)
        if session is not None:
            session.handle_error(exc)
        self.source_error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        log.debug("link %s: fetch from source node %s failed: %s", self.name, node, exc)
        self._src.cluster.request_update()
        self._backoff(("fetch", node), 0.5)

    def _fetched(self, node: int, asked: dict[tuple[str, int], tuple[PartitionState, int]], walk: int,
                 resp: Any, restarts: int, conn: int) -> None:
        try:
            self._take_answer(node, asked, walk, resp, restarts, conn)
        finally:
            # The answer's records are views of its buffer (FramePool): the queued batches
            # keep what they need, and an answer object that outlives this call (a
            # reference cycle in the client) must not keep the whole buffer in use.
            for topic_resp in resp.responses:
                for pd in topic_resp.partitions:
                    pd.records = None

    def _take_answer(self, node: int, asked: dict[tuple[str, int], tuple[PartitionState, int]], walk: int,
                     resp: Any, restarts: int, conn: int) -> None:
        """`asked`: what the request named, planned in walk number `walk`."""
        self._fetching.get(node, {}).pop(conn, None)
        if restarts != self._session_restarts:
            # Sent before the sessions were restarted (a route came or went): the
            # answer is the old session's, and kafka-python would take it for a
            # broken one (an INFO line, and a backoff here). Its partitions are
            # asked again in the new session's first request, which went out on
            # the other connection or goes out now.
            self._invalidate()
            return
        session = self._sessions.get(node)
        if session is not None and not session.handle_response(resp):
            # The session broke (evicted, or an answer that does not fit it):
            # the next request is a full one, which starts a new session.
            self._invalidate()
            self._backoff(("fetch", node), 0.05)
            return
        self.source_error = ""
        # Partitions of the session missing from an incremental answer have
        # nothing new: the source answered for them too.
        self._answered[node] = (time.monotonic(), max(walk, self._answered.get(node, (0.0, 0))[1]))
        plans: list[tuple[PartitionState, Planned]] = []
        new_segments: SegmentBatch = {}
        refresh = False
        for topic_resp in resp.responses:
            for pd in topic_resp.partitions:
                entry = asked.get((topic_resp.topic, pd.partition_index))
                if entry is None:
                    continue
                st, offset = entry
                # Skip an answer that no longer fits: the partition was
                # resynced or removed while the fetch was in flight.
                if st.phase is not Phase.RUNNING or st.next_src != offset or not self._is_routed(st):
                    continue
                # In a fetch session a partition is in the answer only with news
                # (records, a new end or log start, an error).
                self._moved = True
                if pd.error_code != wire.NONE:
                    self._invalidate()
                    refresh |= self._on_fetch_error(st, pd.error_code)
                    continue
                st.source_end = pd.last_stable_offset if pd.last_stable_offset >= 0 else pd.high_watermark
                st.started = True  # a taken-over partition has something true to report now
                if pd.log_start_offset >= 0:
                    st.source_log_start = pd.log_start_offset
                if not pd.records:
                    continue
                self._invalidate()  # offsets move, batches queue (an answer without records changes neither)
                try:
                    found = wire_batches.split_batches(pd.records)
                    aborted = [(a.producer_id, a.first_offset) for a in (pd.aborted_transactions or [])]
                    keep = wire_batches.committed(found, aborted)
                    planned = st.plan(keep, self._routes[st.mirror_id].producer_id, self.producer_epoch)
                except UnreadableBatch as exc:
                    st.fail(str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - a batch we cannot parse fails its mirror only
                    st.fail(f"partition {st.partition}: cannot parse the source batches at offset {offset}: {exc}")
                    continue
                if found:
                    st.skip_to(found[-1].next_offset)
                if planned.segments:
                    new_segments.setdefault(st.mirror_id, {}).setdefault(st.partition, []).extend(planned.segments)
                plans.append((st, planned))
                if planned.outgoing:
                    self._queued[(st.mirror_id, st.partition)] = (self._routes[st.mirror_id], st)
        if refresh:
            self._src.cluster.request_update()
        if new_segments:
            try:
                self._store_segments(new_segments)
            except Exception as exc:  # noqa: BLE001 - nothing past a gap is written unless it is stored
                log.warning("link %s: cannot store translation segments: %s", self.name, exc)
                for st, planned in plans:
                    if planned.segments:
                        st.rewind_plan(planned)
                        self._on_resync(st.mirror_id, st.partition)

    def _is_routed(self, st: PartitionState) -> bool:
        route = self._routes.get(st.mirror_id)
        return route is not None and route.partitions.get(st.partition) is st

    def _on_fetch_error(self, st: PartitionState, code: int) -> bool:
        """Handles one partition's fetch error; True when metadata should be refreshed."""
        if code == wire.OFFSET_OUT_OF_RANGE:
            # The source deleted records not mirrored yet, or the log moved:
            # the resync step finds where to go on and records the gap.
            st.stop_for_resync(f"source offset {st.next_src} is out of range")
            self._on_resync(st.mirror_id, st.partition)
            return False
        if code in wire.FETCH_FATAL:
            st.fail(f"partition {st.partition}: the source refused the fetch: {wire.error_name(code)}")
            return False
        st.reason = f"source answered {wire.error_name(code)}"
        return True

    # -- producing ---------------------------------------------------------------

    def _produce(self) -> None:
        if not self._may_write():
            return
        cluster = self._dst.cluster
        limit = self.settings.max_in_flight
        per_lane: dict[tuple[int, int], list[tuple[Route, PartitionState]]] = {}
        missing = False
        for key, (route, st) in list(self._queued.items()):
            if not st.queue or not self._is_routed(st):
                del self._queued[key]
                continue
            if st.phase is not Phase.RUNNING:
                continue
            leader = cluster.leader_for_partition(TopicPartition(route.topic, st.partition))
            if leader is None or leader < 0:
                missing = True
                continue
            per_lane.setdefault((leader, self._lane_for(route, st)), []).append((route, st))
        if missing:
            self._dst_leaders.ask()
        for (node, lane), parts in per_lane.items():
            while self._producing.get((node, lane), 0) < limit and self._ready(("produce", node)):
                if not self._send_produce(node, lane, parts):
                    break

    def _lane_for(self, route: Route, st: PartitionState) -> int:
        key = (route.mirror_id, st.partition)
        lane = lane_for(self._lane_of.get(key) if st.inflight else None, len(st.queue[0].data),
                        route.mirror_id + st.partition, len(self._lanes))
        self._lane_of[key] = lane
        return lane

    def _send_produce(self, node: int, lane: int, parts: list[tuple[Route, PartitionState]]) -> bool:
        batches: dict[str, list[tuple[int, bytes]]] = {}
        sent: dict[tuple[str, int], PartitionState] = {}
        size = 0
        limit = self.settings.produce_request_max_bytes
        for route, st in parts:
            if size >= limit:
                break
            if len(st.inflight) >= self.settings.max_in_flight:
                continue
            # The limit holds for the request as a whole; only a first batch may pass it alone.
            if sent and st.queue and size + len(st.queue[0].data) > limit:
                continue
            out = st.next_to_send()
            if out is None:
                if st.phase is Phase.FAILED:
                    self._invalidate()  # its source batch was damaged: the status shows why
                continue
            batches.setdefault(route.topic, []).append((st.partition, out.data))
            sent[(route.topic, st.partition)] = st
            size += len(out.data)
        if not sent:
            return False
        req = wire.produce_request(batches, timeout_ms=self.settings.request_timeout_ms)
        key = (node, lane)
        self._producing[key] = self._producing.get(key, 0) + 1
        future = self._lanes[lane].send(req, node_id=node)
        future.add_callback(lambda resp, k=key, s=sent: self._events.append(lambda: self._produced(k, s, resp)))
        future.add_errback(lambda exc, k=key, s=sent: self._events.append(lambda: self._produce_failed(k, s, exc)))
        return True

    def _produce_failed(self, key: tuple[int, int], sent: dict[tuple[str, int], PartitionState],
                        exc: BaseException) -> None:
        self._invalidate()
        self._producing[key] -= 1
        node = key[0]
        log.debug("link %s: produce to destination node %s failed: %s", self.name, node, exc)
        self._dst.cluster.request_update()
        self._backoff(("produce", node), 0.2)
        for st in sent.values():
            self._refused(st, f"write to the destination failed: {exc.__class__.__name__}", fenced=False)

    def _produced(self, key: tuple[int, int], sent: dict[tuple[str, int], PartitionState], resp: Any) -> None:
        self._invalidate()  # queues shrink, phases may change
        self._producing[key] -= 1
        node = key[0]
        refresh = False
        for topic_resp in resp.responses:
            for pr in topic_resp.partition_responses:
                st = sent.get((topic_resp.name, pr.index))
                if st is None:
                    continue
                code = pr.error_code
                if code == wire.NONE:
                    if st.phase is Phase.FAILED or not st.inflight:
                        continue
                    acked = st.on_written(pr.base_offset)
                    if acked is not None:
                        self._on_acked(st.mirror_id, *acked)
                elif code == wire.OUT_OF_ORDER_SEQUENCE_NUMBER:
                    self._refused(st, "another session of the link wrote first", fenced=True)
                elif code in wire.PRODUCE_FATAL:
                    first = st.inflight[0].dst_base if st.inflight else st.next_dst
                    st.fail(f"partition {st.partition}: the destination refused the batch for offset "
                            f"{first}: {wire.error_name(code)}"
                            + (f" ({pr.error_message})" if pr.error_message else ""))
                else:
                    refresh = True
                    self._refused(st, f"destination answered {wire.error_name(code)}", fenced=False)
        if refresh:
            self._dst.cluster.request_update()
            self._backoff(("produce", node), 0.1)

    def _refused(self, st: PartitionState, reason: str, *, fenced: bool) -> None:
        was_running = st.phase is Phase.RUNNING
        st.on_write_refused(reason)
        if fenced:
            self._on_fenced(st.mirror_id)
        if was_running or st.phase is Phase.RESYNC:
            self._on_resync(st.mirror_id, st.partition)
