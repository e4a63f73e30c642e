"""PartitionState: offsets, gaps becoming segments, the delivery check, resyncs."""

from __future__ import annotations

from kafka.record.default_records import DefaultRecordBatchBuilder

from clusterlink.engine.datapath import batches
from clusterlink.engine.datapath.partition import SEQUENCE_SPAN, PartitionState, Phase
from clusterlink.engine.segments import Segment

PID, EPOCH = 4242, 0


def batch_at(base: int, offsets: list[int] | None = None, count: int = 3) -> batches.Batch:
    """A real v2 batch whose records sit at `base + delta` (holes when `offsets` skip)."""
    deltas = offsets if offsets is not None else list(range(count))
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for d in deltas:
        builder.append(d, timestamp=1_700_000_000_000 + d, key=b"k%d" % d, value=b"v%d" % d, headers=[])
    raw = bytearray(builder.build())
    raw[0:8] = base.to_bytes(8, "big")
    if offsets is not None and offsets[-1] != len(offsets) - 1:
        # The cleaner keeps lastOffsetDelta when it drops records: rebuild as it would.
        raw[23:27] = offsets[-1].to_bytes(4, "big")
        raw = bytearray(batches.rewrite_header(batches.split_batches(bytes(raw))[0], -1, -1, -1))
        raw[0:8] = base.to_bytes(8, "big")
    (only,) = batches.split_batches(bytes(raw))
    return only


def header(data: bytes) -> tuple[int, int, int]:
    (b,) = batches.split_batches(data)
    return b.producer_id, b.producer_epoch, b.base_sequence


def test_exact_batches_are_forwarded_with_sequence_equal_to_offset() -> None:
    st = PartitionState.start(1, 0, dst_end=10, segments=[])
    planned = st.plan([batch_at(10), batch_at(13)], PID, EPOCH)
    assert planned.segments == []
    assert [o.dst_base for o in planned.outgoing] == [10, 13]
    assert not any(o.reencoded for o in planned.outgoing)
    assert (st.next_src, st.next_dst) == (16, 16)
    sent = [st.next_to_send(), st.next_to_send()]
    assert [header(o.data) for o in sent if o] == [(PID, EPOCH, 10), (PID, EPOCH, 13)]


def test_a_forwarded_batch_is_rewritten_only_when_it_is_handed_out_to_send() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    source = batch_at(0)
    (planned,) = st.plan([source], PID, EPOCH).outgoing
    assert bytes(planned.data) == bytes(source.data)  # a large answer is planned without copying it
    out = st.next_to_send()
    assert out is planned and header(out.data) == (PID, EPOCH, 0)
    assert batches.payload(batches.split_batches(out.data)[0]) == batches.payload(source)


def in_one_buffer(*found: batches.Batch) -> tuple[bytearray, list[batches.Batch]]:
    """The batches as a fetch answer holds them: views of one writable buffer."""
    buf = bytearray(b"".join(bytes(b.data) for b in found))
    return buf, batches.split_batches(memoryview(buf))


def test_queued_bytes_count_every_batch_and_owned_bytes_only_those_outside_a_fetch_buffer() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    _buf, chunk = in_one_buffer(batch_at(0), batch_at(3), batch_at(6))
    sizes = [len(b.data) for b in chunk]
    st.plan(chunk, PID, EPOCH)
    # The fetch answer's buffer is the link's to count, as a whole (FramePool).
    assert (st.queued_bytes, st.owned_bytes) == (sum(sizes), 0)
    st.next_to_send()
    assert (st.queued_bytes, st.owned_bytes) == (sum(sizes[1:]), 0)
    reencoded = st.plan([batch_at(9, offsets=[0, 2])], PID, EPOCH).outgoing[0]
    assert (st.queued_bytes, st.owned_bytes) == (sum(sizes[1:]) + len(reencoded.data), len(reencoded.data))
    st.next_to_send(), st.next_to_send(), st.next_to_send()
    assert (st.queued_bytes, st.owned_bytes) == (0, 0)


def test_a_forwarded_batch_is_rewritten_in_its_fetch_buffer_without_a_copy() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    buf, chunk = in_one_buffer(batch_at(0), batch_at(3))
    payload = batches.payload(chunk[1])
    st.plan(chunk, PID, EPOCH)
    st.next_to_send()
    out = st.next_to_send()
    assert out is not None and isinstance(out.data, memoryview) and out.data.obj is buf
    (written,) = batches.split_batches(bytes(out.data))
    batches.check_crc(written)  # the new header's CRC32C, computed in place
    assert header(bytes(out.data)) == (PID, EPOCH, 3) and batches.payload(written) == payload


def test_copy_out_frees_a_fetch_buffer_of_the_batches_still_queued() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    buf, chunk = in_one_buffer(batch_at(0), batch_at(3), batch_at(6))
    other, more = in_one_buffer(batch_at(9))
    st.plan(chunk, PID, EPOCH)
    st.plan(more, PID, EPOCH)
    first = st.next_to_send()  # handed out: its view stays until the write is answered
    assert first is not None
    copied = st.copy_out(buf)
    assert copied == len(chunk[1].data) + len(chunk[2].data)
    assert (st.owned_bytes, st.queued_bytes) == (copied, copied + len(more[0].data))
    assert [o.source.data.obj is other if isinstance(o.source.data, memoryview) else "own"
            for o in st.queue if o.source is not None] == ["own", "own", True]
    del chunk, first
    st.inflight.clear()
    buf.append(0)  # no view of it lives any more: it could be reused or freed
    sent = [st.next_to_send() for _ in range(3)]
    assert [header(bytes(o.data))[2] for o in sent if o] == [3, 6, 9]
    assert (st.owned_bytes, st.queued_bytes) == (0, 0)


def test_a_damaged_source_batch_fails_the_partition_before_it_is_sent() -> None:
    st = PartitionState.start(1, 3, dst_end=0, segments=[])
    damaged = bytearray(batch_at(3).data)
    damaged[-1] ^= 0x01
    st.plan([batch_at(0), *batches.split_batches(bytes(damaged))], PID, EPOCH)
    assert st.next_to_send() is not None  # the batch before it is fine
    assert st.next_to_send() is None
    assert st.phase is Phase.FAILED and len(st.inflight) == 1
    assert st.reason.startswith("partition 3: batch at offset 3 fails its CRC32C check")


def test_batches_already_mirrored_are_skipped() -> None:
    st = PartitionState.start(1, 0, dst_end=13, segments=[])
    planned = st.plan([batch_at(10), batch_at(13)], PID, EPOCH)
    assert [o.dst_base for o in planned.outgoing] == [13]


def test_a_gap_becomes_a_segment_before_the_batch_past_it() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    planned = st.plan([batch_at(0), batch_at(4)], PID, EPOCH)  # offset 3: a transaction marker
    assert planned.segments == [Segment(4, 3)]
    assert [o.dst_base for o in planned.outgoing] == [0, 3]
    assert st.segments == [Segment(4, 3)]
    # The next batch follows the same shift: no new segment.
    assert st.plan([batch_at(7)], PID, EPOCH).segments == []


def test_resume_translates_the_destination_end_through_segments() -> None:
    st = PartitionState.start(1, 0, dst_end=6, segments=[Segment(4, 3)])
    assert (st.next_src, st.next_dst, st.shift) == (7, 6, 1)
    assert st.plan([batch_at(7)], PID, EPOCH).segments == []


def test_holes_inside_a_batch_are_reencoded_with_a_segment_per_shift() -> None:
    st = PartitionState.start(1, 0, dst_end=100, segments=[])
    planned = st.plan([batch_at(100, offsets=[0, 3, 4, 7])], PID, EPOCH)
    assert planned.segments == [Segment(103, 101), Segment(107, 103)]
    (out,) = planned.outgoing
    assert out.reencoded and out.count == 4 and out.dst_base == 100
    assert st.reencoded_batches == 1
    assert (st.next_src, st.next_dst) == (108, 104)
    (rebuilt,) = batches.split_batches(out.data)
    assert rebuilt.record_count == 4 and not rebuilt.has_holes


def test_resuming_inside_a_batch_reencodes_its_tail() -> None:
    st = PartitionState.start(1, 0, dst_end=12, segments=[])
    (out,) = st.plan([batch_at(10, count=5)], PID, EPOCH).outgoing
    assert out.reencoded and out.count == 3 and out.dst_base == 12


def test_sequence_wraps_at_two_to_the_31() -> None:
    start = SEQUENCE_SPAN + 5
    st = PartitionState.start(1, 0, dst_end=start, segments=[])
    st.plan([batch_at(start)], PID, EPOCH)
    out = st.next_to_send()
    assert out is not None and header(out.data)[2] == 5


def test_delivery_check_fails_a_batch_that_landed_elsewhere() -> None:
    st = PartitionState.start(1, 2, dst_end=0, segments=[])
    st.plan([batch_at(0), batch_at(3)], PID, EPOCH)
    first, second = st.next_to_send(), st.next_to_send()
    assert first is not None and second is not None
    assert st.on_written(0) == (3, len(first.data))
    assert st.acked_dst == 3 and st.acked_src == 3
    assert st.on_written(4) is None
    assert st.phase is Phase.FAILED and "written outside the link" in st.reason and "offset 4" in st.reason


def test_acks_move_acked_offsets_and_lag() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    st.source_end = 6
    st.plan([batch_at(0), batch_at(3)], PID, EPOCH)
    assert st.lag() == 6
    first = st.next_to_send()
    assert first is not None
    records, size = st.on_written(0) or (0, 0)
    assert records == 3 and size == len(first.data)
    assert st.lag() == 3
    st.next_to_send()
    st.on_written(3)
    assert st.lag() == 0 and st.idle


def test_trailing_marker_counts_as_mirrored_only_when_idle() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    st.plan([batch_at(0)], PID, EPOCH)
    st.skip_to(4)  # a commit marker at offset 3
    st.source_end = 4
    assert st.mirrored_source_offset() == 0
    st.next_to_send()
    st.on_written(0)
    assert st.mirrored_source_offset() == 4 and st.lag() == 0


def test_a_fenced_write_settles_then_resyncs() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    st.plan([batch_at(0), batch_at(3), batch_at(6)], PID, EPOCH)
    st.next_to_send()
    st.next_to_send()
    st.on_write_refused("another session wrote first")
    assert st.phase is Phase.SETTLING and not st.queue
    assert st.next_to_send() is None
    st.on_write_refused("another session wrote first")
    assert st.phase is Phase.RESYNC
    st.resume_at(6, [])
    assert st.phase is Phase.RUNNING and (st.next_src, st.next_dst, st.acked_dst) == (6, 6, 6)


def test_rewind_when_segments_could_not_be_stored() -> None:
    st = PartitionState.start(1, 0, dst_end=0, segments=[])
    planned = st.plan([batch_at(5)], PID, EPOCH)
    st.rewind_plan(planned)
    assert st.segments == [] and not st.queue and st.phase is Phase.RESYNC
