"""The data path's fetch sessions when routes change while a fetch is out."""

from types import SimpleNamespace

from kafka.consumer.fetcher import FetchSessionHandler
from kafka.structs import TopicPartition

from clusterlink.engine.datapath.copier import Copier, CopierSettings, Route
from clusterlink.engine.datapath.partition import PartitionState
from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection

NODE = 1
SETTINGS = CopierSettings(fetch_max_bytes=1 << 20, partition_max_bytes=1 << 20, fetch_max_wait_ms=500,
                          buffer_bytes=1 << 24, max_in_flight=2, produce_connections=1,
                          produce_request_max_bytes=1 << 20, request_timeout_ms=30000, source_timeout_ms=30000)


def _copier() -> Copier:
    copier = Copier("l", Connection("127.0.0.1:1"), Connection("127.0.0.1:1"), SETTINGS,
                    store_segments=lambda _s: None, on_resync=lambda _m, _p: None,
                    on_acked=lambda _m, _r, _b: None, on_fenced=lambda _m: None)
    copier._fetch_conns = [object(), object()]  # only counted here: nothing is sent
    return copier


def _answer(session_id: int, partitions: list[int]) -> SimpleNamespace:
    parts = [SimpleNamespace(partition_index=p, error_code=0, high_watermark=0, last_stable_offset=0,
                             log_start_offset=0, aborted_transactions=None, records=None) for p in partitions]
    return SimpleNamespace(error_code=0, session_id=session_id,
                           responses=[SimpleNamespace(topic="t", partitions=parts)] if parts else [])


def _session_with_a_fetch_out(copier: Copier) -> tuple[FetchSessionHandler, int]:
    """Session 7 on the broker, and an incremental fetch of it in flight on connection 0."""
    session = copier._sessions.setdefault(NODE, FetchSessionHandler(NODE))
    session.build_next({TopicPartition("t", 0): wire.fetch_partition(0, 0, 1 << 20)})
    assert session.handle_response(_answer(7, [0]))
    session.build_next({TopicPartition("t", 0): wire.fetch_partition(0, 0, 1 << 20)})
    copier._fetching[NODE] = {0: copier._session_restarts}
    return session, copier._session_restarts


def test_a_restarted_session_asks_on_the_other_connection_while_the_old_request_is_out() -> None:
    copier = _copier()
    _session_with_a_fetch_out(copier)
    assert copier._fetch_out(NODE) and copier._free_fetch_conn(NODE) == 1
    copier._restart_sessions()  # a mirror starts
    assert not copier._fetch_out(NODE) and copier._free_fetch_conn(NODE) == 1
    copier._fetching[NODE][1] = copier._session_restarts  # the new session's first request
    copier._restart_sessions()  # another one, before either answered
    assert copier._free_fetch_conn(NODE) is None  # it waits for one of them


def test_an_answer_to_a_fetch_sent_before_the_sessions_restarted_is_dropped_without_a_backoff() -> None:
    copier = _copier()
    session, sent_at = _session_with_a_fetch_out(copier)
    copier._restart_sessions()  # a mirror starts while session 7's fetch is out

    copier._fetched(NODE, {}, 0, _answer(7, []), sent_at, 0)  # its answer: nothing new

    assert copier._free_fetch_conn(NODE) == 0
    assert copier._ready(("fetch", NODE))  # no backoff: the new session's request goes out at once
    assert session.next_metadata.is_full and session.next_metadata.session_id == 7  # and closes session 7


def _answered(copier: Copier, walk) -> float:  # noqa: ANN001 - the copier's private _Walk
    """An empty answer from NODE to a request of `walk`: nothing new for the partitions it names."""
    copier._fetched(NODE, walk.asked[NODE], walk.number, _answer(0, []), copier._session_restarts, 0)
    return copier._answered[NODE][0]


def test_a_partition_is_answered_by_its_source_nodes_answers_to_requests_that_name_it() -> None:
    copier = _copier()
    route = Route(1, "t", "t")
    parts = route.partitions = {p: PartitionState.start(1, p, 0, []) for p in (0, 1)}
    copier._routes[1] = route
    copier._src = SimpleNamespace(cluster=SimpleNamespace(leader_for_partition=lambda _tp: NODE))
    first = copier._plan_walk()
    t1 = _answered(copier, first)
    assert copier.fetched_at(parts[0]) == copier.fetched_at(parts[1]) == t1

    # A partition added (the source topic grew): an answer to a request sent before
    # does not name it, so it has no answer yet; one to the new walk's request does.
    parts[2] = PartitionState.start(1, 2, 0, [])
    second = copier._plan_walk()
    t2 = _answered(copier, first)
    assert copier.fetched_at(parts[0]) == t2 and copier.fetched_at(parts[2]) == 0.0
    t3 = _answered(copier, second)
    assert copier.fetched_at(parts[2]) == copier.fetched_at(parts[0]) == t3

    # A partition that stops fetching (here it failed) keeps the time of its last answer.
    parts[1].fail("broken")
    third = copier._plan_walk()
    t4 = _answered(copier, third)
    assert copier.fetched_at(parts[1]) == t3 < t4 == copier.fetched_at(parts[0])
    assert NODE not in [n for n, asked in third.asked.items() if ("t", 1) in asked]
