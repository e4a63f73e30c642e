"""engine/datapath/batches.py on record batches written by a real client (librdkafka).

The fixtures under data/batches/ were captured from a Kafka 4.1 broker by
`python -m tests.unit.data.batches.capture`; these tests only read them.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path

import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from clusterlink.engine.datapath import batches as B
from tests.unit.data.batches.capture import CODECS, COUNT, PER_BATCH, expected_record

DATA = Path(__file__).parent / "data" / "batches"
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
PID, EPOCH = 123456789, 7


@cache
def raw(name: str) -> bytes:
    return (DATA / f"{name}.bin").read_bytes()


@cache
def meta(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def fixture(name: str) -> list[B.Batch]:
    return B.split_batches(raw(name))


def opened(data: bytes) -> DefaultRecordBatch:
    """kafka-python's reader on `data`, its CRC checked first (it must be before iterating)."""
    batch = DefaultRecordBatch(data)
    assert batch.validate_crc()
    return batch


def relative(batch: B.Batch) -> list[tuple]:
    """The records of `batch` with offsets relative to its first record."""
    return [(r.offset - batch.base_offset, r.timestamp, r.key, r.value, list(r.headers))
            for r in B.read_records(batch)]


def as_read(data: bytes) -> list[tuple]:
    return [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in opened(data)]


# --- split_batches -----------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_split_finds_every_batch_of_a_real_fetch(codec: str) -> None:
    data = raw(codec)
    batches = B.split_batches(data)
    assert len(batches) == COUNT // PER_BATCH
    assert sum(b.size for b in batches) == len(data)
    expected_next = 0
    for b in batches:
        assert isinstance(b.data, memoryview)  # a view, not a copy
        assert b.magic == 2
        assert b.codec == CODEC_IDS[codec]
        assert (b.base_offset, b.record_count) == (expected_next, PER_BATCH)
        assert b.last_offset == b.base_offset + PER_BATCH - 1
        assert b.next_offset == b.last_offset + 1
        assert not (b.has_holes or b.is_control or b.is_transactional)
        assert not B.needs_reencode(b)
        assert b.first_timestamp == meta("codecs")[codec]["base_timestamp"] + b.base_offset
        header = DefaultRecordBatch(bytes(b.data))
        assert (header.base_offset, header.producer_id, header.base_sequence) == (
            b.base_offset, b.producer_id, b.base_sequence)
        expected_next = b.next_offset
    if meta("codecs")[codec]["idempotent"]:
        assert all(b.producer_id >= 0 and b.base_sequence == b.base_offset for b in batches)
    else:
        assert all(b.producer_id == -1 for b in batches)


@pytest.mark.parametrize("codec", CODECS)
def test_fixture_records_are_what_the_client_produced(codec: str) -> None:
    base_ts = meta("codecs")[codec]["base_timestamp"]
    got = [r for b in fixture(codec) for r in B.read_records(b)]
    assert [r.offset for r in got] == list(range(COUNT))
    for r in got:
        key, value, headers, ts = expected_record(r.offset, base_ts)
        assert (r.key, r.value, list(r.headers), r.timestamp) == (key, value, headers, ts)


def test_split_drops_a_truncated_last_batch() -> None:
    data = raw("lz4")
    whole = B.split_batches(data)
    last_start = len(data) - whole[-1].size
    for cut in (len(data) - 1, last_start + 1, last_start + 11, last_start + 12,
                last_start + 17, last_start + 61):
        batches = B.split_batches(data[:cut])
        assert [b.base_offset for b in batches] == [b.base_offset for b in whole[:-1]]
        assert all(bytes(a.data) == bytes(b.data) for a, b in zip(batches, whole))
    assert len(B.split_batches(data[:last_start])) == len(whole) - 1
    assert B.split_batches(data[:30]) == []
    assert B.split_batches(b"") == []
    assert B.split_batches(None) == []


def test_split_takes_a_memoryview_without_copying() -> None:
    buf = bytearray(raw("gzip"))
    batches = B.split_batches(memoryview(buf))
    buf[0:8] = struct.pack(">q", 999)  # the views see the caller's buffer
    assert struct.unpack(">q", batches[0].data[:8])[0] == 999


def test_split_refuses_bytes_that_are_not_batches() -> None:
    bad_magic = bytearray(raw("none"))
    bad_magic[16] = 3
    with pytest.raises(B.CorruptBatchError):
        B.split_batches(bytes(bad_magic))
    short = struct.pack(">qi", 0, 3) + b"\x00\x00\x00"
    with pytest.raises(B.CorruptBatchError):
        B.split_batches(short)
    short_v2 = struct.pack(">qiib", 0, 20, 0, 2) + bytes(15)
    with pytest.raises(B.CorruptBatchError):
        B.split_batches(short_v2)


# --- rewrite_header ----------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_rewrite_header_keeps_the_records_byte_for_byte(codec: str) -> None:
    for i, b in enumerate(fixture(codec)):
        seq = 1000 + i * PER_BATCH
        out = B.rewrite_header(b, PID, EPOCH, seq)
        assert isinstance(out, bytes) and len(out) == b.size
        assert out[B.V2_HEADER_SIZE:] == B.payload(b)
        # Only the fields we set (and the CRC, leader epoch) changed.
        assert out[8:12] == bytes(b.data[8:12]) and out[16] == 2
        assert out[23:43] == bytes(b.data[23:43])  # lastOffsetDelta, timestamps
        assert out[57:61] == bytes(b.data[57:61])  # record count
        rb = opened(out)
        assert (rb.base_offset, rb.producer_id, rb.producer_epoch, rb.base_sequence) == (
            0, PID, EPOCH, seq)
        assert rb.leader_epoch == -1
        assert not rb.is_transactional and not rb.is_control_batch
        assert rb.compression_type == CODEC_IDS[codec]
        assert (rb.records_count, rb.last_offset_delta) == (
            b.record_count, b.last_offset - b.base_offset)
        assert as_read(out) == relative(b)
        # Our own reader agrees, and so does a round trip through split.
        again = B.split_batches(out)
        assert len(again) == 1 and again[0].producer_id == PID
        assert B.payload(again[0]) == B.payload(b)


def test_rewrite_header_clears_the_transactional_bit() -> None:
    txn = [b for b in fixture("transactional") if b.is_transactional and not b.is_control]
    assert txn
    for b in txn:
        out = B.rewrite_header(b, PID, 0, 0)
        rb = opened(out)
        assert not rb.is_transactional
        assert rb.attributes == b.attributes & ~0x10
        assert out[B.V2_HEADER_SIZE:] == B.payload(b)


def test_rewrite_header_writes_a_wrapped_sequence_as_given() -> None:
    b = fixture("zstd")[0]
    rb = opened(B.rewrite_header(b, PID, EPOCH, 2**31 - 1))
    assert rb.base_sequence == 2**31 - 1


def test_rewrite_header_refuses_control_and_legacy_batches() -> None:
    control = [b for b in fixture("transactional") if b.is_control][0]
    with pytest.raises(ValueError, match="control"):
        B.rewrite_header(control, PID, EPOCH, 0)
    legacy = B.split_batches(legacy_message_set(1, 0, [0, 1]))[0]
    with pytest.raises(ValueError, match="magic"):
        B.rewrite_header(legacy, PID, EPOCH, 0)


# --- transactions ------------------------------------------------------------------


def test_control_type_of_real_markers() -> None:
    kinds = [(b.base_offset, B.control_type(b)) for b in fixture("transactional")]
    markers = [(offset, kind) for offset, kind in kinds if kind]
    assert [kind for _, kind in markers] == ["COMMIT", "ABORT", "COMMIT"]
    assert all(B.control_type(b) is None for c in CODECS for b in fixture(c))


def test_committed_is_what_a_read_committed_consumer_sees() -> None:
    batches = fixture("transactional")
    info = meta("transactional")
    assert info["last_stable_offset"] == info["high_watermark"] == batches[-1].next_offset
    aborted = [tuple(t) for t in info["aborted_transactions"]]
    assert len(aborted) == 1
    kept = B.committed(batches, aborted)
    values = [r.value for b in kept for r in B.read_records(b)]
    assert values == (
        [f"keep-a1-{i}".encode() for i in range(5)] + [f"plain-{i}".encode() for i in range(3)]
        + [f"keep-a2-{i}".encode() for i in range(5)] + [f"keep-a3-{i}".encode() for i in range(5)])
    assert not any(b.is_control for b in kept)
    # The aborted producer's batches and all markers went; nothing else did.
    dropped = [b for b in batches if b not in kept]
    assert {b.producer_id for b in dropped if not b.is_control} == {aborted[0][0]}
    assert sum(b.is_control for b in dropped) == 3


def test_committed_drops_only_from_the_aborted_transactions_first_offset() -> None:
    batches = fixture("transactional")
    aborted_pid, first = meta("transactional")["aborted_transactions"][0]
    later = [b for b in batches if b.producer_id == aborted_pid and not b.is_control][1]
    kept = B.committed(batches, [(aborted_pid, later.base_offset)])
    # Its earlier batch is before the aborted transaction: kept.
    assert [b.base_offset for b in kept if b.producer_id == aborted_pid] == [first]
    assert later not in kept


def test_committed_without_aborted_transactions_drops_only_markers() -> None:
    batches = fixture("transactional")
    for aborted in (None, []):
        kept = B.committed(batches, aborted)
        assert kept == [b for b in batches if not b.is_control]
    plain = fixture("gzip")
    assert B.committed(plain, []) == plain


def test_an_abort_marker_ends_the_aborted_transaction() -> None:
    batches = fixture("transactional")
    aborted_pid, first = meta("transactional")["aborted_transactions"][0]
    abort_at = next(b.base_offset for b in batches if B.control_type(b) == "ABORT")
    # The same producer id again after its ABORT marker, in a later (committed)
    # transaction: a copy of one of its batches moved past the marker is kept.
    moved = [b for b in batches if b.producer_id == aborted_pid and not b.is_control][0]
    after = B.Batch(moved.data, abort_at + 100, abort_at + 104, moved.magic, moved.attributes,
                    moved.record_count, moved.producer_id, moved.producer_epoch,
                    moved.base_sequence, moved.first_timestamp)
    kept = B.committed([*batches, after], [(aborted_pid, first)])
    assert after in kept


# --- re-encoding -------------------------------------------------------------------


def v2_batch(offsets: list[int], codec: int = 1, base_offset: int = 0,
             transactional: bool = False) -> bytes:
    """A v2 batch with records at these offset deltas (holes between them), as
    compaction leaves it, with base offset `base_offset`."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec,
                                        is_transactional=transactional, producer_id=42,
                                        producer_epoch=3, base_sequence=17, batch_size=1 << 20)
    for i in offsets:
        builder.append(i, 1_700_000_000_000 + 10 * i, f"k{i}".encode(), f"value {i} ".encode() * 20,
                       [("h", str(i).encode()), ("n", None)])
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base_offset)  # outside the CRC
    return bytes(data)


def legacy_message_set(magic: int, codec: int, offsets: list[int], wrapper_offset: int = 0) -> bytes:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 20)
    for i in offsets:
        builder.append(i, 1_600_000_000_000 + i, f"k{i}".encode(), f"legacy {i}".encode() * 5)
    data = bytearray(builder.build())
    if codec:
        struct.pack_into(">q", data, 0, wrapper_offset)  # as the broker sets it
    return bytes(data)


def check_reencoded(out: bytes, kept: list[int], source: dict[int, tuple], codec: int) -> None:
    rb = opened(out)
    assert (rb.base_offset, rb.producer_id, rb.producer_epoch, rb.base_sequence) == (0, PID, EPOCH, 55)
    assert not rb.is_transactional and rb.timestamp_type == 0
    assert rb.compression_type == codec
    assert (rb.records_count, rb.last_offset_delta) == (len(kept), len(kept) - 1)
    got = as_read(out)
    assert [g[0] for g in got] == list(range(len(kept)))  # consecutive deltas from 0
    assert [g[1:] for g in got] == [source[o] for o in kept]
    again = B.split_batches(out)
    assert len(again) == 1 and not B.needs_reencode(again[0])


def by_offset(batch: B.Batch) -> dict[int, tuple]:
    return {r.offset: (r.timestamp, r.key, r.value, list(r.headers)) for r in B.read_records(batch)}


def test_reencode_closes_the_holes_of_a_compacted_batch() -> None:
    (b,) = B.split_batches(v2_batch([0, 3, 7], codec=1, base_offset=100, transactional=True))
    assert (b.base_offset, b.last_offset, b.record_count, b.codec) == (100, 107, 3, 1)
    assert b.has_holes and B.needs_reencode(b)
    out, kept = B.reencode(b, 0, PID, EPOCH, 55)
    assert kept == [100, 103, 107]
    check_reencoded(out, kept, by_offset(b), codec=1)


@pytest.mark.parametrize("codec", CODECS)
def test_reencode_from_the_middle_of_a_real_batch(codec: str) -> None:
    b = fixture(codec)[1]
    out, kept = B.reencode(b, b.base_offset + 3, PID, EPOCH, 55)
    assert kept == list(range(b.base_offset + 3, b.next_offset))
    check_reencoded(out, kept, by_offset(b), codec=CODEC_IDS[codec])


def test_the_codec_is_kept_even_when_compression_does_not_pay() -> None:
    # kafka-python's builder would fall back to no compression for one tiny record;
    # re-encoded and filler batches keep the codec they were asked for.
    out = B.filler_batch(1, 5, ("m", b"1"), PID, EPOCH, 0, codec=3)
    uncompressed = B.filler_batch(1, 5, ("m", b"1"), PID, EPOCH, 0, codec=0)
    assert len(out) > len(uncompressed)
    rb = opened(out)
    assert rb.compression_type == 3
    assert [(r.offset, r.timestamp, r.headers) for r in rb] == [(0, 5, [("m", b"1")])]


def test_reencode_keeping_nothing() -> None:
    b = fixture("lz4")[0]
    assert B.reencode(b, b.next_offset, PID, EPOCH, 55) == (b"", [])
    control = [b for b in fixture("transactional") if b.is_control][0]
    assert B.reencode(control, 0, PID, EPOCH, 55) == (b"", [])


def test_an_empty_batch_needs_reencoding_into_nothing() -> None:
    # What compaction leaves when it removes every record of a producer's batch.
    full = bytearray(v2_batch([0, 1, 2], codec=0)[:B.V2_HEADER_SIZE])
    struct.pack_into(">i", full, 8, B.V2_HEADER_SIZE - 12)
    struct.pack_into(">i", full, 57, 0)
    (b,) = B.split_batches(bytes(full))
    assert b.record_count == 0 and b.has_holes and B.needs_reencode(b)
    assert B.reencode(b, 0, PID, EPOCH, 55) == (b"", [])


@pytest.mark.parametrize(("magic", "codec"), [(0, 0), (1, 0), (0, 1), (1, 1), (1, 2), (1, 3)])
def test_reencode_a_legacy_message_set(magic: int, codec: int) -> None:
    if codec:
        data = legacy_message_set(magic, codec, [0, 1, 2, 3], wrapper_offset=203)
        # v1 wrappers carry relative inner offsets; v0 inner offsets are absolute.
        first = 200 if magic == 1 else 0
    else:
        data = legacy_message_set(magic, codec, [200, 201, 203, 204])
        first = 200
    (b,) = B.split_batches(data)
    assert (b.magic, b.codec, b.record_count, b.base_offset) == (magic, codec, 4, first)
    assert b.producer_id == -1 and B.needs_reencode(b)
    source = by_offset(b)
    assert all(v[1].startswith(b"k") for v in source.values())
    if magic == 0:
        assert b.first_timestamp == -1 and {v[0] for v in source.values()} == {-1}
    else:
        assert b.first_timestamp == 1_600_000_000_000 + (0 if codec else 200)
    out, kept = B.reencode(b, first + 1, PID, EPOCH, 55)
    assert kept == sorted(source)[1:]
    check_reencoded(out, kept, source, codec=codec)


def test_split_groups_uncompressed_legacy_messages_and_stops_at_other_batches() -> None:
    data = (legacy_message_set(1, 0, [0, 1, 2]) + legacy_message_set(0, 0, [3])
            + legacy_message_set(1, 1, [0, 1], wrapper_offset=5)
            + v2_batch([0, 1], base_offset=6))
    batches = B.split_batches(data)
    assert [(b.magic, b.base_offset, b.last_offset, b.record_count) for b in batches] == [
        (1, 0, 2, 3), (0, 3, 3, 1), (1, 4, 5, 2), (2, 6, 7, 2)]
    assert sum(b.size for b in batches) == len(data)
    # A truncated legacy message ends the run (and the fetch) like a truncated batch.
    assert [b.record_count for b in B.split_batches(legacy_message_set(1, 0, [0, 1, 2])[:-3])] == [2]


def test_a_run_of_legacy_messages_stays_within_a_produce_size() -> None:
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 30)
    for i in range(120):
        builder.append(i, 1_600_000_000_000 + i, None, bytes([i]) * 10_000)
    data = bytes(builder.build())
    batches = B.split_batches(data)
    assert len(batches) == 3
    assert all(b.size <= B.LEGACY_RUN_MAX_BYTES for b in batches)
    assert [(b.base_offset, b.next_offset) for b in batches] == [
        (0, batches[1].base_offset), (batches[1].base_offset, batches[2].base_offset),
        (batches[2].base_offset, 120)]


def test_payload_is_v2_only() -> None:
    b = fixture("snappy")[0]
    assert B.payload(b) == bytes(b.data)[61:]
    with pytest.raises(ValueError):
        B.payload(B.split_batches(legacy_message_set(1, 0, [0]))[0])


# --- filler ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [3, 0])
def test_filler_batch(codec: int) -> None:
    out = B.filler_batch(500, 1_750_000_000_000, ("clusterlink.filler", b"v1"), PID, EPOCH, 55, codec)
    rb = opened(out)
    assert (rb.base_offset, rb.producer_id, rb.producer_epoch, rb.base_sequence) == (0, PID, EPOCH, 55)
    assert (rb.records_count, rb.last_offset_delta, rb.compression_type) == (500, 499, codec)
    assert (rb.first_timestamp, rb.max_timestamp) == (1_750_000_000_000, 1_750_000_000_000)
    assert not rb.is_transactional
    records = list(rb)
    assert [r.offset for r in records] == list(range(500))
    assert {(r.key, r.value, r.timestamp, tuple(r.headers)) for r in records} == {
        (None, None, 1_750_000_000_000, (("clusterlink.filler", b"v1"),))}
    if codec == 3:
        assert len(out) < 500 * 6  # lz4 makes it small: ~5 bytes a record
    with pytest.raises(ValueError):
        B.filler_batch(0, 1, ("m", b""), PID, EPOCH, 0)


@pytest.mark.parametrize("codec", CODECS)
def test_check_crc_passes_real_batches_and_refuses_one_damaged_byte(codec: str) -> None:
    for b in fixture(codec):
        B.check_crc(b)
    first = fixture(codec)[0]
    damaged = bytearray(first.data)
    damaged[-1] ^= 0x01  # a byte of the records, which only the CRC covers
    (bad,) = B.split_batches(bytes(damaged))
    with pytest.raises(B.CorruptBatchError, match=f"offset {first.base_offset} fails its CRC32C check"):
        B.check_crc(bad)


@pytest.mark.parametrize("codec", [0, 1])
@pytest.mark.parametrize("magic", [0, 1])
def test_check_crc_reads_each_legacy_messages_crc32(magic: int, codec: int) -> None:
    data = legacy_message_set(magic, codec, [0, 1, 2]) + legacy_message_set(magic, codec, [3, 4])
    found = B.split_batches(data)
    for b in found:
        B.check_crc(b)
    damaged = bytearray(data)
    damaged[-1] ^= 0x01  # the last message's value (or the second wrapper's compressed bytes)
    with pytest.raises(B.CorruptBatchError, match=r"offset \d+ fails its CRC32 check"):
        # A compressed wrapper is checked before split_batches opens it.
        B.check_crc(B.split_batches(bytes(damaged))[-1])
