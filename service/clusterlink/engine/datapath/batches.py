"""Record batches as fetched, and the few changes the data path makes to them.

A mirror partition copies the source's record batches byte for byte: the compressed
records of a batch are never opened on the hot path. Only its 61-byte header is
rewritten (base offset 0, the link's producer id/epoch/sequence, transactional bit
cleared, CRC32C recomputed), because that is all the destination broker needs to
accept the batch from a client and keep its bytes as they are (see ENGINE.md §2-3).

The few batches the broker would refuse as they are (holes left by compaction,
empty batches, the legacy v0/v1 formats, or a batch mirroring must enter in its
middle) are re-encoded record by record with kafka-python's batch builder.

Everything here is pure: bytes in, bytes out, no network, no clock.
"""

from __future__ import annotations

import heapq
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, NamedTuple

from crc32c import crc32c
from kafka.codec import gzip_encode, lz4_encode, snappy_encode, zstd_encode
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatch
from kafka.record.util import decode_varint

# --- Layout ------------------------------------------------------------------------

#: baseOffset int64, batchLength int32: the part every batch and message shares.
_LOG_OVERHEAD: Final = 12
_MAGIC_AT: Final = 16

#: The whole v2 header, read in one call per batch.
_V2_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
V2_HEADER_SIZE: Final = _V2_HEADER.size  # 61: the records start here
_PREFIX: Final = struct.Struct(">qi")  # baseOffset, batchLength
_BASE_OFFSET: Final = struct.Struct(">q")
_BATCH_LENGTH_AT: Final = 8
_BATCH_LENGTH: Final = struct.Struct(">i")
_LEADER_EPOCH_AT: Final = 12
_LEADER_EPOCH: Final = struct.Struct(">i")
_CRC_AT: Final = 17
_CRC: Final = struct.Struct(">I")
_ATTRIBUTES_AT: Final = 21  # the CRC covers from here to the end
_ATTRIBUTES: Final = struct.Struct(">h")
_PRODUCER_AT: Final = 43
_PRODUCER: Final = struct.Struct(">qhi")  # producerId, producerEpoch, baseSequence
#: batchLength counts the bytes after itself: the v2 header minus 12, plus records.
_V2_MIN_LENGTH: Final = V2_HEADER_SIZE - _LOG_OVERHEAD

#: Legacy (v0/v1) message: crc uint32, magic int8, attributes int8 [, timestamp int64].
_LEGACY_ATTRIBUTES_AT: Final = 17
_LEGACY_TIMESTAMP: Final = struct.Struct(">q")
_LEGACY_TIMESTAMP_AT: Final = 18
#: Smallest messageSize: crc, magic, attributes, [timestamp,] key and value lengths.
_LEGACY_MIN_LENGTH: Final = {0: 14, 1: 22}

#: A run of uncompressed legacy messages becomes one re-encoded batch; stop a run
#: here so that batch stays well within the destination's max.message.bytes
#: (1 MB by default). A single larger message still makes its own batch.
LEGACY_RUN_MAX_BYTES: Final = 512 * 1024

_CONTROL_KEY: Final = struct.Struct(">hh")  # version, type

# Attribute bits (shared by v2 and, for bits 0-3, by the legacy formats).
CODEC_MASK: Final = 0x07
CODEC_NONE: Final = 0
CODEC_GZIP: Final = 1
CODEC_SNAPPY: Final = 2
CODEC_LZ4: Final = 3
CODEC_ZSTD: Final = 4
TIMESTAMP_TYPE_BIT: Final = 0x08
TRANSACTIONAL_BIT: Final = 0x10
CONTROL_BIT: Final = 0x20

#: What the Java producer writes before the broker assigns the leader epoch.
NO_PARTITION_LEADER_EPOCH: Final = -1
NO_PRODUCER_ID: Final = -1
NO_TIMESTAMP: Final = -1

_CONTROL_TYPES: Final = {0: "ABORT", 1: "COMMIT"}

#: The builder refuses a record that would grow the batch past this; re-encoded
#: batches are never larger than the fetched batch they come from, so no limit.
_UNLIMITED: Final = 2**31 - 1

# kafka-python's encoders: the same framing its reader (and Kafka's Java client)
# expect: lz4 frames with independent blocks, xerial-framed snappy.
_ENCODERS: Final[dict[int, Callable[[bytes], bytes]]] = {
    CODEC_GZIP: gzip_encode,
    CODEC_SNAPPY: snappy_encode,
    CODEC_LZ4: lz4_encode,
    CODEC_ZSTD: zstd_encode,
}


class CorruptBatchError(ValueError):
    """The bytes are not record batches: a complete batch with an impossible header."""


# --- Batches -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """One fetched record batch, as a view of the fetch response's bytes.

    For the legacy formats (magic 0/1), one Batch is a compressed wrapper message
    (with its inner messages), or a run of consecutive uncompressed messages of the
    same magic: the data path re-encodes it into one v2 batch either way.
    """

    data: memoryview | bytes  # the whole batch as fetched (baseOffset .. end)
    base_offset: int
    last_offset: int  # base_offset + lastOffsetDelta; legacy: the last message's offset
    magic: int
    #: v2: the batch attributes. Legacy: the (first) message's attributes, whose
    #: bits 0-3 (codec, timestamp type) mean the same as in v2.
    attributes: int
    record_count: int
    producer_id: int  # -1 when none (always for legacy)
    producer_epoch: int
    base_sequence: int
    first_timestamp: int  # v2 baseTimestamp; legacy: first message's timestamp or -1

    @property
    def codec(self) -> int:
        """0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd."""
        return self.attributes & CODEC_MASK

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def has_holes(self) -> bool:
        """Fewer records than offsets: compaction removed some (or all) of them.

        The broker only accepts a batch whose lastOffsetDelta + 1 equals its record
        count, so such a batch must be re-encoded (or dropped when empty).
        """
        return self.record_count != self.last_offset - self.base_offset + 1

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1


class Record(NamedTuple):
    """One record of a batch, as the re-encoding path reads it."""

    offset: int
    timestamp: int  # what a consumer sees (LogAppendTime batches: the append time)
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def split_batches(records: bytes | memoryview | None) -> list[Batch]:
    """Batches of a fetched partition's `records` bytes, in order.

    Reads headers only and keeps views into `records` (no copy). A truncated last
    batch (the broker cuts the response at its max bytes) is dropped: the caller
    fetches again from its offset. A complete batch with an impossible header or an
    unknown magic raises CorruptBatchError.
    """
    if not records:
        return []
    view = records if isinstance(records, memoryview) else memoryview(records)
    end_of_data = len(view)
    batches: list[Batch] = []
    pos = 0
    while end_of_data - pos >= _LOG_OVERHEAD:
        base_offset, length = _PREFIX.unpack_from(view, pos)
        end = pos + _LOG_OVERHEAD + length
        if end > end_of_data:
            break  # truncated tail
        if length <= _MAGIC_AT - _LOG_OVERHEAD:
            raise CorruptBatchError(f"batch at offset {base_offset} has length {length}")
        magic = view[pos + _MAGIC_AT]
        if magic == 2:
            batches.append(_v2_batch(view, pos, end))
        elif magic in (0, 1):
            batch, end = _legacy_batch(view, pos, end_of_data)
            batches.append(batch)
        else:
            raise CorruptBatchError(f"batch at offset {base_offset} has magic {magic}")
        pos = end
    return batches


def _v2_batch(view: memoryview, pos: int, end: int) -> Batch:
    if end - pos < V2_HEADER_SIZE:
        raise CorruptBatchError(f"v2 batch at offset {_PREFIX.unpack_from(view, pos)[0]}"
                                f" has only {end - pos} bytes")
    (base_offset, length, _epoch, magic, _crc, attributes, last_delta, first_ts, _max_ts,
     producer_id, producer_epoch, base_sequence, count) = _V2_HEADER.unpack_from(view, pos)
    if count < 0 or last_delta < 0:
        raise CorruptBatchError(
            f"batch at offset {base_offset}: length {length}, count {count},"
            f" lastOffsetDelta {last_delta}")
    return Batch(view[pos:end], base_offset, base_offset + last_delta, magic, attributes,
                 count, producer_id, producer_epoch, base_sequence, first_ts)


def _legacy_batch(view: memoryview, pos: int, end_of_data: int) -> tuple[Batch, int]:
    """The legacy batch at `pos` (known complete) and where the next batch starts.

    Rare (Kafka 4 brokers no longer write these formats), so clarity wins over speed:
    a compressed wrapper is opened to learn its inner offsets.
    """
    offset, length = _PREFIX.unpack_from(view, pos)
    magic = view[pos + _MAGIC_AT]
    if length < _LEGACY_MIN_LENGTH[magic]:
        raise CorruptBatchError(f"message at offset {offset} has length {length}")
    attributes = view[pos + _LEGACY_ATTRIBUTES_AT] & (CODEC_MASK | TIMESTAMP_TYPE_BIT)
    end = pos + _LOG_OVERHEAD + length
    if attributes & CODEC_MASK:
        # Checked before it is opened: damaged compressed bytes are reported as
        # what they are, not as whatever the decompressor makes of them.
        _check_legacy_crcs(view[pos:end])
        inner = list(LegacyRecordBatch(view[pos:end], magic))
        if not inner:
            raise CorruptBatchError(f"empty compressed message at offset {offset}")
        first_ts = inner[0].timestamp
        return Batch(view[pos:end], inner[0].offset, inner[-1].offset, magic, attributes,
                     len(inner), NO_PRODUCER_ID, -1, -1,
                     NO_TIMESTAMP if first_ts is None else first_ts), end
    # A run of complete uncompressed messages of this magic: one Batch, so one
    # re-encoded batch and one produce request instead of one per message.
    first_ts = (_LEGACY_TIMESTAMP.unpack_from(view, pos + _LEGACY_TIMESTAMP_AT)[0]
                if magic == 1 else NO_TIMESTAMP)
    base_offset = last_offset = offset
    count = 1
    while end_of_data - end >= _LOG_OVERHEAD:
        offset, length = _PREFIX.unpack_from(view, end)
        following = end + _LOG_OVERHEAD + length
        if (following > end_of_data or following - pos > LEGACY_RUN_MAX_BYTES
                or length < _LEGACY_MIN_LENGTH[magic]
                or view[end + _MAGIC_AT] != magic
                or view[end + _LEGACY_ATTRIBUTES_AT] & CODEC_MASK):
            break  # truncated, full, another kind of batch, or corrupt: the caller decides
        last_offset = offset
        count += 1
        end = following
    return Batch(view[pos:end], base_offset, last_offset, magic, attributes, count,
                 NO_PRODUCER_ID, -1, -1, first_ts), end


# --- Transactions ------------------------------------------------------------------


def control_type(batch: Batch) -> str | None:
    """The kind of a transaction marker: "ABORT" or "COMMIT"; None for a data batch.

    A control batch holds one control record whose key is (int16 version, int16
    type). Brokers never compress control batches, so the key is read in place.
    """
    if not batch.is_control or batch.magic < 2 or batch.record_count < 1:
        return None
    if batch.codec != CODEC_NONE:  # not written by Kafka; read it the slow way
        record = next(iter(DefaultRecordBatch(batch.data)))
        key = record.key or b""
        pos = 0
        buf: bytes | memoryview = key
    else:
        buf = batch.data
        pos = V2_HEADER_SIZE
        _length, pos = decode_varint(buf, pos)
        pos += 1  # record attributes, int8
        _ts_delta, pos = decode_varint(buf, pos)
        _offset_delta, pos = decode_varint(buf, pos)
        key_length, pos = decode_varint(buf, pos)
        if key_length < _CONTROL_KEY.size:
            raise CorruptBatchError(
                f"control batch at {batch.base_offset}: key of {key_length} bytes")
    if len(buf) - pos < _CONTROL_KEY.size:
        raise CorruptBatchError(f"control batch at {batch.base_offset}: short key")
    _version, kind = _CONTROL_KEY.unpack_from(buf, pos)
    return _CONTROL_TYPES.get(kind, f"UNKNOWN_{kind}")


def committed(batches: Iterable[Batch],
              aborted_transactions: Iterable[tuple[int, int]] | None) -> list[Batch]:
    """What a read_committed consumer would see: drops control batches and batches of
    aborted transactions.

    `aborted_transactions` is the Fetch response's list of (producer_id, first_offset)
    for the fetched range (kafka-python's AbortedTransaction objects do not unpack:
    pass `[(t.producer_id, t.first_offset) for t in partition.aborted_transactions]`).

    This is the algorithm of Kafka's consumer: walking the batches in order, a
    producer id becomes aborted once one of its aborted transactions starts at or
    before the batch's last offset; a transactional batch of an aborted producer id
    is dropped; an ABORT marker of that producer id ends the aborted transaction.
    Non-transactional batches are always kept.
    """
    pending = [(first, producer_id) for producer_id, first in aborted_transactions or ()]
    heapq.heapify(pending)
    aborted: set[int] = set()
    kept: list[Batch] = []
    for batch in batches:
        producer_id = batch.producer_id
        if producer_id > NO_PRODUCER_ID:
            while pending and pending[0][0] <= batch.last_offset:
                aborted.add(heapq.heappop(pending)[1])
            if batch.is_control:
                if control_type(batch) == "ABORT":
                    aborted.discard(producer_id)
                continue
            if batch.is_transactional and producer_id in aborted:
                continue
        if batch.is_control:
            continue
        kept.append(batch)
    return kept


# --- Forwarding as is --------------------------------------------------------------


def needs_reencode(batch: Batch) -> bool:
    """True when the destination broker would refuse the batch with only its header
    rewritten: the legacy formats, or holes (fewer records than offsets).

    An empty batch (record_count 0: compaction removed every record, the batch stays
    for its producer state) also answers True, but holds nothing to copy: the caller
    drops it (reencode returns nothing) and the offsets become a gap.
    """
    return batch.magic < 2 or batch.record_count == 0 or batch.has_holes


def check_crc(batch: Batch) -> None:
    """Raises CorruptBatchError unless a v2 batch's bytes match its CRC32C.

    A broker serves fetches from its files without checking them, and the data
    path writes every batch with a new CRC: a batch damaged on the source's disk
    or on the way would reach the destination as valid. Checked here, it stops
    its partition instead, as a Java consumer (check.crcs) would refuse it.
    """
    if batch.magic != 2:
        _check_legacy_crcs(memoryview(batch.data))
        return
    (stored,) = _CRC.unpack_from(batch.data, _CRC_AT)
    actual = crc32c(memoryview(batch.data)[_ATTRIBUTES_AT:])
    if actual != stored:
        raise CorruptBatchError(
            f"batch at offset {batch.base_offset} fails its CRC32C check (stored {stored:#010x}, "
            f"computed {actual:#010x}): its copy on the source is damaged")


def _check_legacy_crcs(view: memoryview) -> None:
    """The same for v0/v1 messages: each carries a CRC32 of its bytes from the magic
    on. A compressed wrapper's covers its inner messages, compressed, whole."""
    pos = 0
    while pos < len(view):
        offset, length = _PREFIX.unpack_from(view, pos)
        end = pos + _LOG_OVERHEAD + length
        (stored,) = _CRC.unpack_from(view, pos + _LOG_OVERHEAD)
        actual = zlib.crc32(view[pos + _MAGIC_AT:end])
        if actual != stored:
            raise CorruptBatchError(
                f"message at offset {offset} fails its CRC32 check (stored {stored:#010x}, "
                f"computed {actual:#010x}): its copy on the source is damaged")
        pos = end


def rewrite_header(batch: Batch, producer_id: int, producer_epoch: int,
                   base_sequence: int) -> bytes | memoryview:
    """The batch ready to produce, its records byte-for-byte the source's.

    Sets baseOffset 0 (the broker assigns offsets), the partition leader epoch to -1
    (as a producer sends it; the broker overwrites it), the link's producer id, epoch
    and base sequence (how the broker fences stale writers, ENGINE.md §3), clears the
    transactional bit (a mirrored batch is not part of a destination transaction),
    and recomputes the CRC32C. The timestamp type bit is left as is: the broker
    applies the topic's timestamp type anyway.

    A batch in a writable buffer (a fetch answer's, which nothing reads after this)
    is rewritten where it is and returned as the same view: no copy. Otherwise it
    is copied once; the CRC is computed over the new header and a view of the
    source's records, without an intermediate buffer. `base_sequence` must already
    be reduced mod 2**31.
    """
    if batch.magic != 2:
        raise ValueError(f"rewrite_header needs a v2 batch, got magic {batch.magic}: re-encode it")
    if batch.is_control:
        raise ValueError("clients may not write control batches")
    data = batch.data
    if isinstance(data, memoryview) and not data.readonly:
        _rewrite(data, batch.attributes, producer_id, producer_epoch, base_sequence)
        _CRC.pack_into(data, _CRC_AT, crc32c(data[_ATTRIBUTES_AT:]))
        return data
    header = bytearray(data[:V2_HEADER_SIZE])
    _rewrite(header, batch.attributes, producer_id, producer_epoch, base_sequence)
    records = memoryview(data)[V2_HEADER_SIZE:]
    crc = crc32c(records, crc32c(memoryview(header)[_ATTRIBUTES_AT:]))
    _CRC.pack_into(header, _CRC_AT, crc)
    return b"".join((header, records))


def _rewrite(header: bytearray | memoryview, attributes: int, producer_id: int, producer_epoch: int,
             base_sequence: int) -> None:
    """The header fields rewrite_header sets, all but the CRC."""
    _BASE_OFFSET.pack_into(header, 0, 0)
    _LEADER_EPOCH.pack_into(header, _LEADER_EPOCH_AT, NO_PARTITION_LEADER_EPOCH)
    _ATTRIBUTES.pack_into(header, _ATTRIBUTES_AT, attributes & ~TRANSACTIONAL_BIT)
    _PRODUCER.pack_into(header, _PRODUCER_AT, producer_id, producer_epoch, base_sequence)


def payload(batch: Batch) -> bytes:
    """The batch's records (compressed as they are), from byte 61 to the end.

    What must be identical between a source batch and its mirror when forwarded as is.
    """
    if batch.magic != 2:
        raise ValueError(f"payload of a v2 batch only, got magic {batch.magic}")
    return bytes(batch.data[V2_HEADER_SIZE:])


# --- Re-encoding -------------------------------------------------------------------


def read_records(batch: Batch) -> Iterator[Record]:
    """The records of `batch`, decompressed: the slow path, for re-encoding and tests.

    Timestamps are what a consumer sees: for a LogAppendTime batch, the append time.
    """
    if batch.magic == 2:
        for r in DefaultRecordBatch(batch.data):
            yield Record(r.offset, r.timestamp, r.key, r.value, tuple(r.headers))
        return
    view = memoryview(batch.data)
    pos = 0
    while pos < len(view):
        length = _PREFIX.unpack_from(view, pos)[1]
        end = pos + _LOG_OVERHEAD + length
        for r in LegacyRecordBatch(view[pos:end], batch.magic):
            timestamp = NO_TIMESTAMP if r.timestamp is None else r.timestamp
            yield Record(r.offset, timestamp, r.key, r.value, ())
        pos = end


def reencode(batch: Batch, from_offset: int, producer_id: int, producer_epoch: int,
             base_sequence: int) -> tuple[bytes, list[int]]:
    """A new v2 batch for one that cannot be forwarded as it is.

    That is: holes left by compaction, the legacy v0/v1 formats, or a batch that
    starts before `from_offset` because mirroring resumes in its middle. The new
    batch holds the records whose source offset >= from_offset, with consecutive
    offset deltas from 0, the same keys, values, headers and timestamps (written as
    CreateTime), the source's codec (legacy codec ids are the same), the producer
    fields set and the transactional bit clear.

    Returns the bytes and the source offsets of the records they hold, in order;
    (b"", []) when no record is kept (the caller records the offsets as a gap).
    """
    if batch.is_control:
        return b"", []
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=CODEC_NONE, is_transactional=False,
        producer_id=producer_id, producer_epoch=producer_epoch,
        base_sequence=base_sequence, batch_size=_UNLIMITED)
    kept: list[int] = []
    for record in read_records(batch):
        if record.offset < from_offset:
            continue
        builder.append(len(kept), record.timestamp, record.key, record.value,
                       list(record.headers))
        kept.append(record.offset)
    if not kept:
        return b"", []
    return _finish(builder.build(), batch.codec), kept


def filler_batch(count: int, timestamp: int, header: tuple[str, bytes], producer_id: int,
                 producer_epoch: int, base_sequence: int, codec: int = CODEC_LZ4) -> bytes:
    """`count` throw-away records (null key, null value, one marker header) in one
    batch with the given timestamp.

    Used to move an empty destination partition's log start up to the source's: the
    filler takes the offsets below it and is then deleted. About 25 bytes per record
    before compression and a few after lz4: keep `count` within the destination's
    message.max.bytes (100k records make ~0.5 MB with lz4).
    """
    if count < 1:
        raise ValueError(f"a filler batch needs at least one record, got {count}")
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=CODEC_NONE, is_transactional=False,
        producer_id=producer_id, producer_epoch=producer_epoch,
        base_sequence=base_sequence, batch_size=_UNLIMITED)
    headers = [header]
    for delta in range(count):
        builder.append(delta, timestamp, None, None, headers)
    return _finish(builder.build(), codec)


def _finish(built: bytearray, codec: int) -> bytes:
    """An uncompressed batch from the builder, its records compressed with `codec`,
    the leader epoch -1 and the CRC recomputed.

    The builder would silently fall back to no compression when it does not pay;
    compressing here keeps the source's codec, so a mirror batch's codec is always
    its source batch's.
    """
    view = memoryview(built)
    header = bytearray(view[:V2_HEADER_SIZE])
    body: bytes | memoryview = view[V2_HEADER_SIZE:]
    if codec != CODEC_NONE:
        encode = _ENCODERS.get(codec)
        if encode is None:
            raise ValueError(f"unknown codec {codec}")
        body = encode(bytes(body))
        _BATCH_LENGTH.pack_into(header, _BATCH_LENGTH_AT, _V2_MIN_LENGTH + len(body))
        attributes = _ATTRIBUTES.unpack_from(header, _ATTRIBUTES_AT)[0]
        _ATTRIBUTES.pack_into(header, _ATTRIBUTES_AT, (attributes & ~CODEC_MASK) | codec)
    _LEADER_EPOCH.pack_into(header, _LEADER_EPOCH_AT, NO_PARTITION_LEADER_EPOCH)
    _CRC.pack_into(header, _CRC_AT, crc32c(body, crc32c(memoryview(header)[_ATTRIBUTES_AT:])))
    return b"".join((header, body))
