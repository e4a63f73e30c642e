"""FrameParser: the data path's responses, however the socket cuts them, in a reused buffer."""

from __future__ import annotations

import random
import select
import socket
import threading

import pytest
from kafka.protocol.consumer import FetchResponse
from kafka.protocol.parser import KafkaProtocol

from clusterlink.kafka import transport, wire
from clusterlink.kafka.transport import FrameParser


def _fetch_answer(correlation_id: int, records: bytes) -> bytes:
    """A framed Fetch v12 answer as a broker sends it."""
    part = FetchResponse.FetchableTopicResponse.PartitionData(
        partition_index=0, error_code=0, high_watermark=7, last_stable_offset=7, log_start_offset=0,
        aborted_transactions=[], preferred_read_replica=-1, records=records)
    answer = FetchResponse(throttle_time_ms=0, error_code=0, session_id=0,
                           responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[part])])
    answer.API_VERSION = wire.FETCH_VERSION
    answer.with_header(correlation_id=correlation_id)
    return bytes(answer.encode(framed=True, header=True))


def _ask(parser: KafkaProtocol) -> int:
    request = wire.fetch_request({"t": [(0, 0)]}, max_wait_ms=10, max_bytes=1 << 20, partition_max_bytes=1 << 20)
    return parser.send_request(request)


def _feed(parser: KafkaProtocol, data: bytes, cuts: list[int]) -> list:
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(data)]):
        out.extend(parser.receive_bytes(memoryview(data)[start:end]))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_answers_cut_anywhere_decode_as_kafka_pythons_own_parser_does(seed):
    rng = random.Random(seed)
    ours, theirs = FrameParser(client_id="t"), KafkaProtocol(client_id="t")
    stream = b""
    records = []
    for _ in range(4):
        body = rng.randbytes(rng.randrange(0, 300_000))
        records.append(body)
        assert _ask(ours) == _ask(theirs)
        stream += _fetch_answer(ours._correlation_id, body)
    cuts = sorted(rng.sample(range(1, len(stream)), 40))
    got, want = _feed(ours, stream, cuts), _feed(theirs, stream, cuts)
    assert [c for c, _ in got] == [c for c, _ in want] == [1, 2, 3, 4]
    assert [r.responses[0].partitions[0].records for _, r in got] == records
    assert [r.to_dict() for _, r in got] == [r.to_dict() for _, r in want]


def test_the_buffer_is_reused_and_never_overwritten_while_a_view_of_it_lives():
    parser = FrameParser(client_id="t")
    _ask(parser)
    parser.receive_bytes(_fetch_answer(1, b"a" * 100_000))
    buffer = parser._spare
    _ask(parser)
    parser.receive_bytes(_fetch_answer(2, b"b" * 50_000))
    assert parser._spare is buffer  # smaller answers land in the same memory

    held = memoryview(buffer)[:10]  # as if a decoded answer kept part of the last frame
    before = bytes(held)
    _ask(parser)
    [(_, answer)] = parser.receive_bytes(_fetch_answer(3, b"c" * 50_000))
    assert parser._spare is not buffer
    assert bytes(held) == before
    assert answer.responses[0].partitions[0].records == b"c" * 50_000


def test_a_frame_larger_than_allowed_is_refused():
    parser = FrameParser(client_id="t", receive_message_max_bytes=1000)
    _ask(parser)
    with pytest.raises(Exception, match="Invalid frame length"):
        parser.receive_bytes(_fetch_answer(1, b"x" * 2000))


class _Socketside:
    """What _sock_recv needs of a transport: a socket, the chunk, and the connection's parser."""

    def __init__(self, sock, parser: FrameParser) -> None:  # type: ignore[no-untyped-def]
        self._sock, self._chunk = sock, bytearray(transport.CHUNK_BYTES)
        self._protocol = type("Connection", (), {"parser": parser})()


def test_large_answers_are_read_into_their_own_buffer_and_it_is_reused():
    parser = FrameParser(client_id="t")
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    side = _Socketside(ours, parser)
    direct = []
    try:
        for correlation_id, body in [(1, random.Random(1).randbytes(3_000_000)), (2, b"z" * 2_500_000)]:
            _ask(parser)
            sender = threading.Thread(target=theirs.sendall, args=(_fetch_answer(correlation_id, body),))
            sender.start()
            got: list = []
            while not got:
                select.select([ours], [], [], 10)
                if parser.direct_space() is not None:
                    direct.append(correlation_id)
                data, err = transport._sock_recv(side, (BlockingIOError, InterruptedError))
                assert err is None
                got = parser.receive_bytes(data)
            sender.join()
            [(cid, answer)] = got
            assert cid == correlation_id
            assert answer.responses[0].partitions[0].records == body
            if correlation_id == 1:
                buffer = parser._spare
        assert parser._spare is buffer  # no view of the bytes read in place outlives its answer
        assert set(direct) == {1, 2}    # most of each answer skipped the chunk
    finally:
        ours.close()
        theirs.close()


def test_with_a_frame_pool_fetch_records_are_views_of_a_pooled_buffer_and_decode_the_same():
    rng = random.Random(7)
    frames = transport.FramePool(largest=1 << 20)
    ours, theirs = FrameParser(frames=frames, client_id="t"), KafkaProtocol(client_id="t")
    stream, bodies = b"", [rng.randbytes(n) for n in (200_000, 0, 70_000)]
    for body in bodies:
        assert _ask(ours) == _ask(theirs)
        stream += _fetch_answer(ours._correlation_id, body)
    cuts = sorted(rng.sample(range(1, len(stream)), 25))
    got, want = _feed(ours, stream, cuts), _feed(theirs, stream, cuts)
    views = [r.responses[0].partitions[0].records for _, r in got]
    assert all(isinstance(v, memoryview) for v in views)
    assert {id(v.obj) for v in views} <= {id(b) for b in frames.in_use()}  # each in a buffer the pool counts
    assert [bytes(v) for v in views] == bodies
    for (_, r), (_, w) in zip(got, want, strict=True):
        r.responses[0].partitions[0].records = bytes(r.responses[0].partitions[0].records)
        assert r.to_dict() == w.to_dict()


def test_other_answers_on_a_pooled_connection_decode_as_kafka_python_does():
    from kafka.protocol.producer import ProduceResponse
    parser = FrameParser(frames=transport.FramePool(largest=1 << 20), client_id="t")
    parser.send_request(wire.produce_request({"t": [(0, b"x" * 100)]}, timeout_ms=1000))
    answer = ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(name="t", partition_responses=[
        ProduceResponse.TopicProduceResponse.PartitionProduceResponse(index=0, error_code=0, base_offset=5)])],
        throttle_time_ms=0)
    answer.API_VERSION = wire.PRODUCE_VERSION
    answer.with_header(correlation_id=1)
    [(_, got)] = parser.receive_bytes(bytes(answer.encode(framed=True, header=True)))
    assert got.responses[0].partition_responses[0].base_offset == 5


def test_the_pool_reuses_a_free_buffer_of_the_size_class_never_one_in_use():
    kib = 1024
    frames = transport.FramePool(largest=1000 * kib, keep_bytes=4000 * kib)
    first = frames.take(300 * kib)
    buf = first.obj
    assert len(buf) == 512 * kib and frames.bytes_in_use() == 512 * kib  # counted whole
    held = first[10:20]  # a queued batch of that answer
    del first
    second = frames.take(400 * kib)
    assert second.obj is not buf  # still in use
    del held
    third = frames.take(260 * kib)
    assert third.obj is buf  # free again, and of the same class
    del second, third
    assert frames.bytes_in_use() == 0
    fourth = frames.take(900 * kib)  # the largest class: the largest answer expected
    assert len(fourth.obj) == 1000 * kib
    assert len(frames.take(10).obj) == transport.MIN_BUFFER_BYTES


def test_the_pool_keeps_free_buffers_within_its_bytes_and_gives_back_those_of_classes_no_longer_asked_for():
    kib, now = 1024, [0.0]
    frames = transport.FramePool(largest=1024 * kib, keep_bytes=1536 * kib, idle_seconds=10.0, clock=lambda: now[0])
    a, b = frames.take(1000 * kib), frames.take(1000 * kib)
    small = frames.take(200 * kib)
    del a, b, small  # three free buffers: 1024 + 1024 + 256 KiB
    answer = frames.take(1000 * kib)  # reuses one; the other 1024 KiB would not fit in 1536 KiB
    assert sorted(len(x) for x in frames._buffers) == [256 * kib, 1024 * kib]
    del answer
    again = frames.take(1000 * kib)
    assert len(frames._buffers) == 2  # nothing new was allocated
    del again
    now[0] = 11.0  # only small answers from now on (an idle link)
    frames.take(100)
    assert [len(x) for x in frames._buffers] == [transport.MIN_BUFFER_BYTES]


def test_the_pool_tells_which_buffers_are_held_long():
    now = [100.0]
    frames = transport.FramePool(largest=1 << 20, clock=lambda: now[0])
    old = frames.take(1000)
    now[0] = 103.0
    new = frames.take(1000)
    assert frames.held_longer_than(2.0) == [(old.obj, 1000)]
    del old
    assert frames.held_longer_than(2.0) == []
    assert frames.in_use() == [new.obj]
