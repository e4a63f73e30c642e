"""store.progress and migration 0002 against real databases.

Every test runs on a SQLite file and, when Debian's PostgreSQL binaries are
installed, on a PostgreSQL database of its own (the server starts once per
test session, see tests/fixtures/postgres.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, event, select, text

from clusterlink.engine.segments import Segment
from clusterlink.store import db
from clusterlink.store.models import Base, Link, LinkTask, MirrorPartition, MirrorTopic, TranslationSegment
from clusterlink.store.progress import (
    Factory,
    MirrorOrders,
    MirrorStatus,
    PartitionProgress,
    destination_topic_ids,
    mirror_producer_ids,
    load_link_segments,
    load_reencoded,
    load_segments,
    mark_source_unavailable,
    note_destination_topic_ids,
    renew_reasons,
    read_link_orders,
    set_mirror_producer_ids_if_absent,
    set_reasons,
    write_link_status,
)


def add_link(factory: Factory, name: str, paused: bool = False, states: tuple[str, ...] = ()) -> tuple[int, list[int]]:
    with db.transaction(factory) as session:
        link = Link(name=name, source={}, destination={}, config={}, paused=paused)
        link.mirror_topics = [
            MirrorTopic(name=f"{name}-t{i}", source_topic=f"t{i}", state=state) for i, state in enumerate(states)
        ]
        session.add(link)
        session.flush()
        return link.id, [m.id for m in link.mirror_topics]


def progress(partition: int, end: int = 100, mirrored: int = 90, reencoded: int = 0) -> PartitionProgress:
    return PartitionProgress(
        partition=partition,
        source_log_start_offset=3,
        source_end_offset=end,
        mirror_end_offset=mirrored,
        mirrored_source_offset=mirrored,
        translated=False,
        reencoded_batches=reencoded,
    )


def partition_rows(factory: Factory, mirror_id: int) -> dict[int, MirrorPartition]:
    with factory() as session:
        rows = session.scalars(select(MirrorPartition).where(MirrorPartition.mirror_topic_id == mirror_id))
        return {r.partition: r for r in rows}


def status_time(factory: Factory, mirror_id: int) -> dt.datetime | None:
    with factory() as session:
        return session.scalar(select(MirrorTopic.status_time).where(MirrorTopic.id == mirror_id))


# --------------------------------------------------------------------------- migrations


def test_migrations_match_the_models(engine: Engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def test_0002_keeps_existing_partition_rows_with_zero_reencoded_batches(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/old.db"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO links (id, name, source, destination, config, paused, version, create_time, update_time) "
                "VALUES (1, 'l', '{}', '{}', '{}', 0, 1, '2026-01-01', '2026-01-01')"
            ))
            conn.execute(text(
                "INSERT INTO mirror_topics (id, link_id, name, source_topic, state, reason, "
                "delete_destination_topic, version, create_time, update_time) "
                "VALUES (1, 1, 't', 't', 'ACTIVE', '', 0, 1, '2026-01-01', '2026-01-01')"
            ))
            conn.execute(text(
                "INSERT INTO mirror_partitions VALUES (1, 0, 0, 10, 10, 10, 0, 0)"
            ))
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT reencoded_batches FROM mirror_partitions")).scalar_one() == 0
            assert conn.execute(text("SELECT producer_id FROM links")).scalar_one() is None
        command.downgrade(cfg, "0001")
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- orders


def test_read_link_orders_returns_every_mirror_of_the_link(factory: Factory):
    link_id, (a, b) = add_link(factory, "one", paused=True, states=("ACTIVE", "DELETING"))
    add_link(factory, "other", states=("PENDING",))
    assert read_link_orders(factory, link_id) == {
        a: MirrorOrders(state="ACTIVE", link_paused=True),
        b: MirrorOrders(state="DELETING", link_paused=True),
    }


def test_read_link_orders_of_a_link_without_mirrors_is_empty(factory: Factory):
    link_id, _ = add_link(factory, "empty")
    assert read_link_orders(factory, link_id) == {}


def test_read_link_orders_of_a_missing_link_is_none(factory: Factory):
    assert read_link_orders(factory, 12345) is None


# --------------------------------------------------------------------------- status


def test_write_link_status_inserts_then_updates_partition_rows(factory: Factory):
    link_id, (a, b) = add_link(factory, "l", states=("ACTIVE", "ACTIVE"))
    missing = write_link_status(
        factory,
        link_id,
        [MirrorStatus(a, [progress(0), progress(1)]), MirrorStatus(b, [progress(0, reencoded=4)])],
    )
    assert missing == set()
    rows = partition_rows(factory, a)
    assert sorted(rows) == [0, 1]
    assert (rows[0].source_end_offset, rows[0].mirrored_source_offset, rows[0].lag) == (100, 90, 10)
    assert partition_rows(factory, b)[0].reencoded_batches == 4
    first = status_time(factory, a)
    assert first is not None

    write_link_status(factory, link_id, [MirrorStatus(a, [progress(1, end=200, mirrored=200, reencoded=7)])])
    rows = partition_rows(factory, a)
    assert (rows[1].source_end_offset, rows[1].lag, rows[1].reencoded_batches) == (200, 0, 7)
    assert rows[0].source_end_offset == 100  # a partition not given is left as it was
    assert status_time(factory, a) >= first


def test_write_link_status_sets_status_time_of_a_mirror_without_partitions(factory: Factory):
    link_id, (a,) = add_link(factory, "l", states=("PENDING",))
    assert write_link_status(factory, link_id, [MirrorStatus(a, [])]) == set()
    assert status_time(factory, a) is not None


def test_write_link_status_touches_mirrors_that_did_not_move_without_rewriting_their_rows(factory: Factory):
    link_id, (a, b) = add_link(factory, "l", states=("ACTIVE", "ACTIVE"))
    write_link_status(factory, link_id, [MirrorStatus(a, [progress(0)]), MirrorStatus(b, [progress(0)])])
    with db.transaction(factory) as session:
        session.get(MirrorPartition, (b, 0)).lag = 12345  # a row the next call must leave as it is
        session.get(MirrorTopic, b).status_time = None
    missing = write_link_status(factory, link_id, [MirrorStatus(a, [progress(0, end=300)])], touched=[b, 999])
    assert missing == {999}
    assert partition_rows(factory, a)[0].source_end_offset == 300
    assert partition_rows(factory, b)[0].lag == 12345
    assert status_time(factory, b) is not None
    assert write_link_status(factory, link_id, [], touched=[b]) == set()


def test_write_link_status_reports_gone_mirrors_and_writes_nothing_for_them(factory: Factory):
    link_id, (a, b) = add_link(factory, "l", states=("ACTIVE", "ACTIVE"))
    _, (foreign,) = add_link(factory, "other", states=("ACTIVE",))
    with db.transaction(factory) as session:
        session.delete(session.get(MirrorTopic, b))
    missing = write_link_status(
        factory,
        link_id,
        [MirrorStatus(a, [progress(0)]), MirrorStatus(b, [progress(0)]), MirrorStatus(foreign, [progress(0)]),
         MirrorStatus(999, [progress(0)])],
    )
    assert missing == {b, foreign, 999}
    assert sorted(partition_rows(factory, a)) == [0]
    assert partition_rows(factory, b) == {}
    assert partition_rows(factory, foreign) == {}
    assert status_time(factory, foreign) is None


def test_write_link_status_of_nothing_is_a_no_op(factory: Factory):
    assert write_link_status(factory, 1, []) == set()


def test_write_link_status_writes_5000_partitions_with_a_few_statements(factory: Factory, engine: Engine):
    """Bulk upsert: a constant number of statements, whatever the partition count."""
    link_id, mirrors = add_link(factory, "big", states=("ACTIVE",) * 10)
    statuses = [MirrorStatus(m, [progress(p) for p in range(500)]) for m in mirrors]
    calls: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        calls.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert write_link_status(factory, link_id, statuses) == set()
        inserts = len(calls)
        statuses = [MirrorStatus(m, [progress(p, end=1000) for p in range(500)]) for m in mirrors]
        assert write_link_status(factory, link_id, statuses) == set()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # One UPDATE ... RETURNING and one executemany upsert per call (plus
    # whatever BEGIN the driver sends).
    assert inserts <= 3, calls
    assert len(calls) <= 6, calls
    with factory() as session:
        rows = session.execute(select(MirrorPartition.source_end_offset)).scalars().all()
    assert len(rows) == 5000 and set(rows) == {1000}


def test_load_reencoded_gives_the_last_counts_written(factory: Factory):
    link_id, (a, b) = add_link(factory, "l", states=("ACTIVE", "ACTIVE"))
    assert load_reencoded(factory, a) == {}
    write_link_status(factory, link_id, [MirrorStatus(a, [progress(0, reencoded=2), progress(1)]),
                                         MirrorStatus(b, [progress(0, reencoded=9)])])
    assert load_reencoded(factory, a) == {0: 2, 1: 0}


# --------------------------------------------------------------------------- segments


def test_load_link_segments_returns_every_mirror_asked_for_in_order(factory: Factory):
    _, (a, b, c) = add_link(factory, "l", states=("ACTIVE", "ACTIVE", "ACTIVE"))
    with db.transaction(factory) as session:
        session.add_all([
            TranslationSegment(mirror_topic_id=a, partition=1, destination_offset=50, source_offset=70),
            TranslationSegment(mirror_topic_id=a, partition=1, destination_offset=10, source_offset=12),
            TranslationSegment(mirror_topic_id=a, partition=0, destination_offset=5, source_offset=6),
            TranslationSegment(mirror_topic_id=b, partition=2, destination_offset=0, source_offset=9),
            TranslationSegment(mirror_topic_id=c, partition=0, destination_offset=1, source_offset=2),
        ])
    got = load_link_segments(factory, [a, b, 404])
    assert got == {
        a: {0: [Segment(6, 5)], 1: [Segment(12, 10), Segment(70, 50)]},
        b: {2: [Segment(9, 0)]},
        404: {},
    }
    assert got[a] == load_segments(factory, a)


def test_load_link_segments_of_no_mirrors_is_empty(factory: Factory):
    assert load_link_segments(factory, []) == {}


# --------------------------------------------------------------------------- producer id


def test_producer_id_is_set_once_per_mirror(factory: Factory):
    _, (first, second) = add_link(factory, "l", states=("ACTIVE", "ACTIVE"))
    assert mirror_producer_ids(factory, [first, second, 404]) == {first: None, second: None}
    assert set_mirror_producer_ids_if_absent(factory, {first: 2**40}) == {first: 2**40}
    assert set_mirror_producer_ids_if_absent(factory, {first: 7, second: 8}) == {first: 2**40, second: 8}
    assert mirror_producer_ids(factory, [first, second]) == {first: 2**40, second: 8}


def test_producer_id_of_a_missing_mirror(factory: Factory):
    assert mirror_producer_ids(factory, [404]) == {}
    assert set_mirror_producer_ids_if_absent(factory, {404: 1}) == {}


def test_a_destination_topic_id_is_noted_once_per_mirror(factory: Factory):
    _, (first, second) = add_link(factory, "l", states=("ACTIVE", "ACTIVE"))
    assert destination_topic_ids(factory, [first, second, 404]) == {}
    note_destination_topic_ids(factory, {first: "id-a", 404: "id-x"})
    # A later id never replaces the first: comparing them is how a replaced topic shows.
    note_destination_topic_ids(factory, {first: "id-b", second: "id-c"})
    assert destination_topic_ids(factory, [first, second, 404]) == {first: "id-a", second: "id-c"}


def test_racing_callers_end_with_the_same_producer_id(factory: Factory):
    _, (mirror_id,) = add_link(factory, "l", states=("ACTIVE",))
    callers = 4
    barrier = threading.Barrier(callers)
    results: dict[int, int] = {}

    def call(candidate: int) -> None:
        barrier.wait(timeout=10)
        results[candidate] = set_mirror_producer_ids_if_absent(factory, {mirror_id: candidate})[mirror_id]

    threads = [threading.Thread(target=call, args=(100 + i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == callers
    winners = set(results.values())
    assert len(winners) == 1 and winners <= set(results)
    assert mirror_producer_ids(factory, [mirror_id]) == {mirror_id: winners.pop()}


def test_0006_gives_existing_mirrors_their_links_producer_id(tmp_path: Path):
    """A mirror that wrote with its link's producer id keeps it: a late write of a
    session from before the upgrade stays fenced by the broker."""
    url = f"sqlite:///{tmp_path}/old.db"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0005")
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            for link_id, producer_id in ((1, "4242"), (2, "NULL")):
                conn.execute(text(
                    "INSERT INTO links (id, name, source, destination, config, paused, version, create_time, "
                    f"update_time, producer_id) VALUES ({link_id}, 'l{link_id}', '{{}}', '{{}}', '{{}}', 0, 1, "
                    f"'2026-01-01', '2026-01-01', {producer_id})"))
                conn.execute(text(
                    "INSERT INTO mirror_topics (id, link_id, name, source_topic, state, reason, "
                    "delete_destination_topic, version, create_time, update_time) "
                    f"VALUES ({link_id}, {link_id}, 't', 't', 'ACTIVE', '', 0, 1, '2026-01-01', '2026-01-01')"))
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, producer_id FROM mirror_topics")).tuples().all())
            assert rows == {1: 4242, 2: None}
            assert conn.execute(text("SELECT restore_state FROM mirror_topics WHERE id = 1")).scalar_one() == ""
    finally:
        engine.dispose()


def test_mark_source_unavailable_moves_pending_and_active_mirrors_and_their_tasks_at_once(factory: Factory):
    link_id, (pending, active, paused, failed) = add_link(
        factory, "down", states=("PENDING", "ACTIVE", "PAUSED", "FAILED"))
    tasks = {mid: f"MirrorTopic:{mid}" for mid in (pending, active, paused, failed)}
    moved = mark_source_unavailable(factory, link_id, tasks, "cannot reach the source cluster at a:9092: timed out",
                                    "cannot reach")
    assert moved == {pending, active}
    with factory() as session:
        rows = {m.id: (m.state, m.reason) for m in session.scalars(select(MirrorTopic))}
        task_rows = {t.name: (t.state, t.last_error) for t in session.scalars(select(LinkTask))}
    assert rows[pending] == rows[active] == ("SOURCE_UNAVAILABLE", "cannot reach the source cluster at a:9092: timed out")
    assert rows[paused][0] == "PAUSED" and rows[failed][0] == "FAILED"
    assert task_rows == {tasks[pending]: ("ERROR", "cannot reach the source cluster at a:9092: timed out"),
                         tasks[active]: ("ERROR", "cannot reach the source cluster at a:9092: timed out")}
    # Already unavailable: nothing moves again.
    assert mark_source_unavailable(factory, link_id, tasks, "again", "again") == set()


def test_a_waiting_mirrors_reason_is_renewed_only_when_it_says_something_else(factory: Factory):
    link_id, (down, paused) = add_link(factory, "renew", states=("ACTIVE", "PAUSED"))
    tasks = {down: f"MirrorTopic:{down}", paused: f"MirrorTopic:{paused}"}
    unreachable = "cannot reach the source cluster at a:9092: timed out (after 10ms)"
    assert mark_source_unavailable(factory, link_id, tasks, unreachable, "cannot reach") == {down}

    def reasons() -> dict[int, str]:
        with factory() as session:
            return {m.id: m.reason for m in session.scalars(select(MirrorTopic))}

    # The same kind with other details: left as it is.
    mark_source_unavailable(factory, link_id, tasks, "cannot reach the source cluster at a:9092: (after 3ms)",
                            "cannot reach")
    renew_reasons(factory, [down], "SOURCE_UNAVAILABLE", "cannot reach it again", "cannot reach")
    assert reasons()[down] == unreachable
    # The source now answers and refuses the login: the mirror and its task say so.
    refused = "cannot log in to the source cluster at a:9092: SASL authentication error"
    assert mark_source_unavailable(factory, link_id, tasks, refused, "cannot log in") == set()
    assert reasons()[down] == refused
    with factory() as session:
        task = session.get(LinkTask, (link_id, tasks[down]))
        assert task is not None and (task.state, task.last_error) == ("ERROR", refused)
    # One mirror, as a failed prepare renews it; only in the state it is asked for.
    renew_reasons(factory, [down], "SOURCE_UNAVAILABLE", unreachable, "cannot reach")
    renew_reasons(factory, [paused], "SOURCE_UNAVAILABLE", unreachable, "cannot reach")
    assert reasons()[down] == unreachable and reasons()[paused] == ""
    # A kind with LIKE's wildcards in it is matched as written.
    renew_reasons(factory, [down], "SOURCE_UNAVAILABLE", "100% down", "cannot_%")
    assert reasons()[down] == "100% down"


def test_mark_source_unavailable_of_nothing_is_a_no_op(factory: Factory):
    assert mark_source_unavailable(factory, 1, {}, "x", "x") == set()


def test_set_reasons_writes_many_mirrors_in_one_commit_and_only_in_the_state_given(factory: Factory, engine: Engine):
    """Hundreds of mirrors waiting for their new destination topics: one commit, not one each."""
    _, mirrors = add_link(factory, "waits", states=("PENDING",) * 300 + ("ACTIVE",))
    commits: list[object] = []

    def count(conn):  # type: ignore[no-untyped-def]
        commits.append(conn)

    event.listen(engine, "commit", count)
    try:
        set_reasons(factory, {m: ("PENDING", f"waiting: {m}") for m in mirrors})
    finally:
        event.remove(engine, "commit", count)
    assert len(commits) == 1
    with factory() as session:
        reasons = dict(session.execute(select(MirrorTopic.id, MirrorTopic.reason)).all())
    assert all(reasons[m] == f"waiting: {m}" for m in mirrors[:300])
    assert reasons[mirrors[300]] == ""  # ACTIVE meanwhile: not a PENDING mirror's reason any more
