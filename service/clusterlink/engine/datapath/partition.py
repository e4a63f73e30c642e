"""The state of one mirror partition in the data path (pure: no I/O).

Offsets are equal on both sides except across gaps, which become
translation segments. `shift` is source minus destination offset of the
current segment; a record whose shift differs starts a new segment, and
that segment must be stored before the record is produced.

Every batch is written with base sequence = its destination base offset
mod 2**31 under the link's one producer id, so the destination broker
accepts it only where the link's previous batch in that partition ended.
A refused or lost write is therefore never retried blindly: the partition
stops, its in-flight requests settle, and it starts again from the
destination's end offset (a resync).
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass, field

from clusterlink.engine.datapath import batches as wire_batches
from clusterlink.engine.segments import Segment, source_for_destination

SEQUENCE_SPAN = 2**31


class Phase(enum.Enum):
    RUNNING = "running"
    SETTLING = "settling"  # waiting for in-flight writes before a resync
    RESYNC = "resync"      # needs a new start point from the destination's end
    FAILED = "failed"


@dataclass(slots=True)
class Outgoing:
    """A batch to produce at a known destination offset.

    A batch forwarded as it is keeps the source's bytes (`source`) until it is
    handed out to send: its CRC check and header rewrite happen then. So the
    first batches of a large fetch answer go out before the last ones are
    rewritten, and the next fetch does not wait for all of them.
    """

    data: bytes | memoryview  # as produced; the source's batch while `source` is set
    dst_base: int
    count: int
    src_next: int  # the source offset after this batch's last record
    reencoded: bool
    source: wire_batches.Batch | None = None
    producer: tuple[int, int] = (-1, -1)  # (producer id, epoch) to write `source` with
    # Bytes of memory of its own this batch holds while queued (owned_bytes): a
    # re-encoded or copied-out batch. A forwarded batch is a view of a fetch answer's
    # buffer, which the link counts as a whole (transport.FramePool): 0.
    charge: int = 0


def _in(data: bytes | memoryview, buffer: object) -> bool:
    return isinstance(data, memoryview) and data.obj is buffer


@dataclass(slots=True)
class Planned:
    """What one fetched chunk becomes: new segments first, then batches."""

    segments: list[Segment]
    outgoing: list[Outgoing]


class UnreadableBatch(Exception):
    """A fetched batch could not be parsed or re-encoded: the mirror fails."""


@dataclass
class PartitionState:
    mirror_id: int
    partition: int
    next_src: int          # next source offset to fetch
    next_dst: int          # destination offset of the next batch to queue
    segments: list[Segment] = field(default_factory=list)
    acked_src: int = 0
    acked_dst: int = 0
    shift: int = 0
    phase: Phase = Phase.RUNNING
    reason: str = ""
    queue: deque[Outgoing] = field(default_factory=deque)
    inflight: deque[Outgoing] = field(default_factory=deque)
    queued_bytes: int = 0  # the batches queued, all of them
    owned_bytes: int = 0   # of those, the ones not in a fetch answer's buffer (their charges)
    reencoded_batches: int = 0
    # What the source said in its last answer for this partition.
    source_log_start: int = 0
    source_end: int = 0           # last stable offset (what read_committed sees)
    # Monotonic time of the last good fetch answer: Copier.fetched_at. While the
    # partition is fetched from fetch_node, that node's answers move it.
    last_fetch_ok: float = 0.0
    fetch_node: int | None = None
    fetch_walk: int = 0  # the copier's walk it joined fetch_node in
    # False until a partition taken over from another replica has its start point:
    # it has nothing to report yet (its offsets are not known).
    started: bool = True

    @classmethod
    def start(cls, mirror_id: int, partition: int, dst_end: int, segments: list[Segment],
              reencoded_batches: int = 0) -> PartitionState:
        """A partition resuming at the destination's end offset."""
        src = source_for_destination(segments, dst_end)
        return cls(mirror_id, partition, next_src=src, next_dst=dst_end, segments=list(segments),
                   acked_src=src, acked_dst=dst_end, shift=src - dst_end,
                   reencoded_batches=reencoded_batches)

    @classmethod
    def awaiting(cls, mirror_id: int, partition: int) -> PartitionState:
        """A partition this replica just got: it starts once the resync finds the destination's end."""
        return cls(mirror_id, partition, next_src=0, next_dst=0, phase=Phase.RESYNC,
                   reason="taking over the partition", started=False)

    # -- fetched data ------------------------------------------------------

    def plan(self, fetched: list[wire_batches.Batch], producer_id: int, producer_epoch: int) -> Planned:
        """Turns committed source batches into batches for the destination.

        Batches wholly below `next_src` were mirrored already (a fetch
        answers with the whole batch holding the fetch offset). Updates
        next_src/next_dst and the segments; the caller stores the returned
        segments before it produces any of the returned batches.
        """
        new_segments: list[Segment] = []
        out: list[Outgoing] = []
        for batch in fetched:
            if batch.next_offset <= self.next_src:
                continue
            if batch.record_count == 0:
                self.next_src = batch.next_offset
                continue
            if batch.base_offset >= self.next_src and not wire_batches.needs_reencode(batch):
                # Checked and rewritten when it is sent (next_to_send).
                self._map(batch.base_offset, new_segments)
                out.append(Outgoing(batch.data, self.next_dst, batch.record_count, batch.next_offset, False,
                                    batch, (producer_id, producer_epoch)))
                self.next_dst += batch.record_count
                self.next_src = batch.next_offset
                continue
            self._check(batch)
            try:
                data, offsets = wire_batches.reencode(batch, self.next_src, producer_id, producer_epoch,
                                                      self.next_dst % SEQUENCE_SPAN)
            except Exception as exc:  # noqa: BLE001 - any codec or parse error
                raise UnreadableBatch(
                    f"partition {self.partition}: cannot re-encode the source batch at offset "
                    f"{batch.base_offset}: {exc}") from exc
            self.next_src = batch.next_offset
            if not offsets:
                continue
            self._map_runs(offsets, new_segments)
            self.reencoded_batches += 1
            out.append(Outgoing(data, self.next_dst, len(offsets), batch.next_offset, True, charge=len(data)))
            self.next_dst += len(offsets)
        self.segments.extend(new_segments)
        for o in out:
            self.queue.append(o)
            self.queued_bytes += len(o.data)
            self.owned_bytes += o.charge
        return Planned(new_segments, out)

    def bytes_in(self, buffer: object) -> int:
        """Bytes of the queued batches that are views of `buffer`."""
        return sum(len(o.data) for o in self.queue if o.source is not None and _in(o.source.data, buffer))

    def copy_out(self, buffer: object) -> int:
        """Queued batches that are views of `buffer` get bytes of their own, so the
        buffer can be freed while they wait; returns the bytes copied."""
        copied = 0
        for o in self.queue:
            src = o.source
            if src is not None and _in(src.data, buffer):
                o.source = dataclasses.replace(src, data=bytes(src.data))
                o.data = o.source.data
                o.charge = len(o.data)
                copied += o.charge
        self.owned_bytes += copied
        return copied

    def _check(self, batch: wire_batches.Batch) -> None:
        try:
            wire_batches.check_crc(batch)
        except wire_batches.CorruptBatchError as exc:
            raise UnreadableBatch(f"partition {self.partition}: {exc}") from exc

    def skip_to(self, source_offset: int) -> None:
        """Source offsets up to here hold nothing to copy (control or aborted batches)."""
        self.next_src = max(self.next_src, source_offset)

    def _map(self, src: int, new_segments: list[Segment]) -> None:
        """Records a segment when source `src` does not land at next_dst by the current shift."""
        if src - self.next_dst != self.shift:
            self.shift = src - self.next_dst
            new_segments.append(Segment(src, self.next_dst))

    def _map_runs(self, offsets: list[int], new_segments: list[Segment]) -> None:
        dst = self.next_dst
        for src in offsets:
            if src - dst != self.shift:
                self.shift = src - dst
                new_segments.append(Segment(src, dst))
            dst += 1

    def rewind_plan(self, planned: Planned) -> None:
        """Undoes `plan` when its segments could not be stored: nothing was sent."""
        for seg in planned.segments:
            self.segments.remove(seg)
        self.phase = Phase.RESYNC
        self.reason = "could not store translation segments"
        self.queue.clear()
        self.queued_bytes = self.owned_bytes = 0

    # -- writes ------------------------------------------------------------

    def next_to_send(self) -> Outgoing | None:
        """The next batch to produce, ready; None when there is none. A source batch
        whose bytes fail their CRC check fails the partition here, before it is sent."""
        if self.phase is not Phase.RUNNING or not self.queue:
            return None
        out = self.queue[0]
        if out.source is not None:
            try:
                self._check(out.source)
            except UnreadableBatch as exc:
                self.fail(str(exc))
                return None
            producer_id, producer_epoch = out.producer
            out.data = wire_batches.rewrite_header(out.source, producer_id, producer_epoch,
                                                   out.dst_base % SEQUENCE_SPAN)
            out.source = None
        self.queue.popleft()
        self.queued_bytes -= len(out.data)
        self.owned_bytes -= out.charge
        self.inflight.append(out)
        return out

    def on_written(self, base_offset: int) -> tuple[int, int] | None:
        """The broker stored the oldest in-flight batch at `base_offset`.

        Returns (records, bytes) acknowledged. A batch that landed anywhere
        but where it belongs means someone else wrote to the partition:
        the partition fails before any later batch can shift offsets.
        """
        out = self.inflight.popleft()
        if self.phase is Phase.FAILED:
            return None
        if base_offset != out.dst_base:
            self.fail(
                f"partition {self.partition} was written outside the link: a mirrored batch landed at "
                f"offset {base_offset} instead of {out.dst_base}; mirroring stopped so offsets never "
                "shift. Fail over, or delete the destination topic and create the mirror again")
            return None
        self.acked_dst = out.dst_base + out.count
        self.acked_src = out.src_next
        self._maybe_settled()
        return out.count, len(out.data)

    def on_write_refused(self, reason: str) -> None:
        """A write was refused or lost: settle, then resync from the destination's end.

        OUT_OF_ORDER_SEQUENCE_NUMBER is not an error either: another session
        of the link (a retry, a dead process's request) got there first, and
        the destination's end offset tells where to go on (the copier counts
        it in clusterlink_fenced_writes_total).
        """
        if self.inflight:
            self.inflight.popleft()
        self.stop_for_resync(reason)

    def stop_for_resync(self, reason: str) -> None:
        if self.phase is Phase.FAILED:
            return
        self.reason = reason
        self.queue.clear()
        self.queued_bytes = self.owned_bytes = 0
        self.phase = Phase.SETTLING
        self._maybe_settled()

    def _maybe_settled(self) -> None:
        if self.phase is Phase.SETTLING and not self.inflight:
            self.phase = Phase.RESYNC

    def fail(self, reason: str) -> None:
        self.phase = Phase.FAILED
        self.reason = reason
        self.queue.clear()
        self.queued_bytes = self.owned_bytes = 0

    def resume_at(self, dst_end: int, segments: list[Segment]) -> None:
        """Starts again from the destination's end offset (after a resync)."""
        fresh = PartitionState.start(self.mirror_id, self.partition, dst_end, segments, self.reencoded_batches)
        fresh.source_log_start, fresh.source_end = self.source_log_start, self.source_end
        fresh.last_fetch_ok, fresh.fetch_node, fresh.fetch_walk = self.last_fetch_ok, self.fetch_node, self.fetch_walk
        fresh.started = self.started  # a taken-over partition reports once the source answered
        for name in PartitionState.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    # -- status ------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self.queue and not self.inflight

    def mirrored_source_offset(self) -> int:
        """The source offset below which everything is on the destination.

        When nothing is queued or in flight, offsets fetched past without a
        record to copy (a trailing transaction marker) count as mirrored,
        so a caught-up transactional partition shows lag 0.
        """
        if self.idle and self.phase is Phase.RUNNING:
            return max(self.acked_src, self.next_src)
        return self.acked_src

    def lag(self) -> int:
        return max(0, self.source_end - self.mirrored_source_offset())
