"""The data path's own CPU per GiB, offline: no broker, no socket, no other process.

Runs what the copier does to each byte between a Fetch answer and a Produce
request: FrameParser assembling the answer (in a FramePool buffer, records as
views), split_batches, PartitionState.plan, next_to_send (CRC check and header
rewrite) and the encoding of Produce requests of two batches each. The answers
hold 1 KiB lz4 records in batches of 512 (about 220 KB), as the bench's ProducerPerformance
writes them; `--queued-answers` answers wait before their batches go out,
partition after partition in turn, as a busy link's queue does.

`make bench` measures the whole process on shared cores, where the noise is
±20%; this measures the Python work alone, in one thread, and varies by a
few percent: use it to compare two versions of the data path.

    python -m tests.bench.datapath_bench [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import deque
from collections.abc import Sequence

from kafka.protocol.consumer import FetchResponse
from kafka.record.default_records import DefaultRecordBatchBuilder

from clusterlink.engine.datapath import batches
from clusterlink.engine.datapath.copier import FETCH_ANSWER_OVERHEAD
from clusterlink.engine.datapath.partition import PartitionState
from clusterlink.kafka import wire
from clusterlink.kafka.transport import FramePool, FrameParser

MIB = 1 << 20
RECORDS_PER_BATCH = 512
LZ4 = 3


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.datapath_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=1024, help="MiB of batches to pass through (default 1024)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per Fetch answer (default 6)")
    parser.add_argument("--answer-mb", type=float, default=48, help="MiB of batches per Fetch answer (default 48)")
    parser.add_argument("--queued-answers", type=int, default=4,
                        help="answers queued before the oldest one's batches go out (default 4)")
    args = parser.parse_args(argv)
    if min(args.size_mb, args.partitions, args.answer_mb) <= 0 or args.queued_answers < 0:
        parser.error("sizes and counts must be positive")
    return args


def lz4_batch(rng: random.Random) -> bytes:
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(400)]
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=LZ4, is_transactional=0, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 22)
    for i in range(RECORDS_PER_BATCH):
        builder.append(i, timestamp=1_700_000_000_000, key=None,
                       value=b"".join(rng.choice(words) for _ in range(128)), headers=[])
    return bytes(builder.build())


def fetch_answer(correlation_id: int, template: bytes, offsets: list[int], per_partition: int) -> bytes:
    """A framed Fetch v12 answer: each partition's batches from its next offset on."""
    parts = []
    for p, at in enumerate(offsets):
        chunk = bytearray(template * max(1, per_partition // len(template)))
        for pos in range(0, len(chunk), len(template)):
            chunk[pos:pos + 8] = (at + pos // len(template) * RECORDS_PER_BATCH).to_bytes(8, "big")
        offsets[p] = at + len(chunk) // len(template) * RECORDS_PER_BATCH
        parts.append(FetchResponse.FetchableTopicResponse.PartitionData(
            partition_index=p, error_code=0, high_watermark=offsets[p], last_stable_offset=offsets[p],
            log_start_offset=0, aborted_transactions=[], preferred_read_replica=-1, records=bytes(chunk)))
    answer = FetchResponse(throttle_time_ms=0, error_code=0, session_id=0,
                           responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=parts)])
    answer.API_VERSION = wire.FETCH_VERSION
    answer.with_header(correlation_id=correlation_id)
    return bytes(answer.encode(framed=True, header=True))


def send_batches(states: list[PartitionState], count: int, turn: int) -> int:
    """Produce requests for `count` queued batches, two per request, the partitions in turn."""
    while count > 0:
        outs: list[tuple[int, bytes | memoryview]] = []
        for k in range(len(states)):
            st = states[(turn + k) % len(states)]
            if len(outs) < 2 and st.queue:
                out = st.next_to_send()
                if out is not None:
                    outs.append((st.partition, out.data))
        turn += 2
        if not outs:
            break
        count -= len(outs)
        request = wire.produce_request({"t": outs}, timeout_ms=30000)
        request.with_header(correlation_id=1, client_id="bench")
        request.encode(framed=True, header=True)
        for st in states:
            st.inflight.clear()  # written and answered
    return turn


def run(args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(1)
    template = lz4_batch(rng)
    per_partition = int(args.answer_mb * MIB / args.partitions)
    answers = max(1, int(args.size_mb / args.answer_mb))
    offsets = [0] * args.partitions
    framed = [fetch_answer(i + 1, template, offsets, per_partition) for i in range(answers)]
    largest = int(args.answer_mb * MIB) + FETCH_ANSWER_OVERHEAD
    # Free buffers kept as the copier keeps them: within its buffer limit, here the answers queued.
    frames = FramePool(largest=largest, keep_bytes=(args.queued_answers + 2) * largest)
    parser = FrameParser(frames=frames, client_id="b")
    states = [PartitionState.start(1, p, 0, []) for p in range(args.partitions)]
    waiting: deque[int] = deque()  # batches per queued answer
    done = turn = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for data in framed:
        parser.send_request(wire.fetch_request({"t": [(0, 0)]}, max_wait_ms=0, max_bytes=1, partition_max_bytes=1))
        view = memoryview(data)
        got = []
        for start in range(0, len(data), MIB):  # as the socket delivers it
            got += parser.receive_bytes(view[start:start + MIB])
        [(_, answer)] = got
        before = sum(len(st.queue) for st in states)
        for pd in answer.responses[0].partitions:
            states[pd.partition_index].plan(batches.split_batches(pd.records), 7, 0)
            done += len(pd.records)
            pd.records = None
        del answer, got
        waiting.append(sum(len(st.queue) for st in states) - before)
        while len(waiting) > args.queued_answers:
            turn = send_batches(states, waiting.popleft(), turn)
    while waiting:
        turn = send_batches(states, waiting.popleft(), turn)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    gib = done / (1 << 30)
    return {"gib": round(gib, 3), "cpu_s": round(cpu, 3), "cpu_s_per_gib": round(cpu / gib, 3),
            "gib_per_cpu_s": round(gib / cpu, 3), "wall_s": round(wall, 3),
            "batch_bytes": len(template), "answers": answers}


def main(argv: Sequence[str] | None = None) -> int:
    result = run(parse_args(argv))
    print(f"data path, offline: {result['gib']} GiB in {result['cpu_s']} CPU s = {result['cpu_s_per_gib']} "
          f"CPU s/GiB ({result['gib_per_cpu_s']} GiB per CPU second; batches of {result['batch_bytes']} bytes, "
          f"{result['answers']} answers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
