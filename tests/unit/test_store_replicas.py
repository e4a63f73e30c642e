"""store.replicas and migration 0007 against real databases.

Every test runs on a SQLite file and, when Debian's PostgreSQL binaries are
installed, on a PostgreSQL database of its own (as tests/unit/test_store_progress.py).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text, update

from clusterlink.store import db, replicas
from clusterlink.store.models import Replica, utcnow
from clusterlink.store.replicas import PRUNE_AFTER, Factory, ReplicaRow


def by_id(factory: Factory) -> dict[str, ReplicaRow]:
    return {row.replica_id: row for row in replicas.list_replicas(factory)}


def age_heartbeat(factory: Factory, replica_id: str, by: dt.timedelta) -> None:
    """Makes a replica look silent for `by` (as if it had stopped heartbeating)."""
    with db.transaction(factory) as session:
        session.execute(update(Replica).where(Replica.id == replica_id).values(heartbeat_time=utcnow() - by))


def near_now(value: dt.datetime) -> bool:
    return value.tzinfo is not None and abs(utcnow() - value) < dt.timedelta(seconds=30)


# --------------------------------------------------------------------------- register, heartbeat, unregister


def test_register_records_address_and_times_and_owns_nothing(factory: Factory):
    replicas.register(factory, "clusterlink-0", "10.0.0.5:50051")
    [row] = replicas.list_replicas(factory)
    assert (row.replica_id, row.address, row.owned) == ("clusterlink-0", "10.0.0.5:50051", {})
    assert near_now(row.start_time) and row.heartbeat_time == row.start_time


def test_register_again_is_a_restart(factory: Factory):
    replicas.register(factory, "r1", "a:1")
    replicas.heartbeat(factory, "r1", {"orders": {"partitions": 3, "control": True}})
    age_heartbeat(factory, "r1", dt.timedelta(minutes=1))
    first = by_id(factory)["r1"]
    replicas.register(factory, "r1", "b:2")
    again = by_id(factory)["r1"]
    assert (again.address, again.owned) == ("b:2", {})
    assert again.start_time >= first.start_time and again.heartbeat_time > first.heartbeat_time
    assert len(replicas.list_replicas(factory)) == 1


def test_heartbeat_records_what_is_owned_and_keeps_start_and_address(factory: Factory):
    replicas.register(factory, "r1", "a:1")
    start = by_id(factory)["r1"].start_time
    age_heartbeat(factory, "r1", dt.timedelta(seconds=5))
    owned = {"orders": {"partitions": 6, "control": True}, "payments": {"partitions": 4, "control": False}}
    replicas.heartbeat(factory, "r1", owned)
    row = by_id(factory)["r1"]
    assert row.owned == owned
    assert row.address == "a:1" and row.start_time == start
    assert near_now(row.heartbeat_time) and row.heartbeat_time > start
    replicas.heartbeat(factory, "r1", {})
    assert by_id(factory)["r1"].owned == {}


def test_heartbeat_of_an_unregistered_replica_brings_it_back(factory: Factory):
    """A replica pruned while frozen reappears at its next heartbeat (its address until it registers again)."""
    replicas.heartbeat(factory, "r1", {"orders": {"partitions": -1, "control": True}})
    row = by_id(factory)["r1"]
    assert row.address == "" and row.owned == {"orders": {"partitions": -1, "control": True}}
    assert near_now(row.start_time)


def test_heartbeat_prunes_other_replicas_silent_for_longer_than_prune_after(factory: Factory):
    for name in ("alive", "gone", "slow", "me"):
        replicas.register(factory, name, f"{name}:1")
    age_heartbeat(factory, "gone", PRUNE_AFTER + dt.timedelta(seconds=30))
    age_heartbeat(factory, "slow", PRUNE_AFTER - dt.timedelta(minutes=1))
    age_heartbeat(factory, "me", PRUNE_AFTER + dt.timedelta(minutes=5))  # its own row is renewed, never pruned
    replicas.heartbeat(factory, "me", {})
    assert sorted(by_id(factory)) == ["alive", "me", "slow"]
    assert near_now(by_id(factory)["me"].heartbeat_time)


def test_unregister_removes_only_that_replica(factory: Factory):
    replicas.register(factory, "r1", "a:1")
    replicas.register(factory, "r2", "b:2")
    replicas.unregister(factory, "r1")
    assert list(by_id(factory)) == ["r2"]
    replicas.unregister(factory, "r1")  # already gone: nothing happens
    replicas.unregister(factory, "never-there")
    assert list(by_id(factory)) == ["r2"]


def test_list_is_ordered_by_replica_id(factory: Factory):
    assert replicas.list_replicas(factory) == []
    for name in ("pod-b", "pod-a", "10.0.0.1:50051", "pod-c"):
        replicas.register(factory, name, "")
    assert [r.replica_id for r in replicas.list_replicas(factory)] == ["10.0.0.1:50051", "pod-a", "pod-b", "pod-c"]


def test_writes_refuse_an_invalid_replica_id(factory: Factory):
    with pytest.raises(ValueError):
        replicas.register(factory, "a b", "x:1")
    with pytest.raises(ValueError):
        replicas.heartbeat(factory, "", {})
    assert replicas.list_replicas(factory) == []


def test_concurrent_heartbeats_with_stale_rows_neither_fail_nor_deadlock(factory: Factory):
    """Replicas prune each other's stale rows while heartbeating their own, at the same time."""
    names = [f"r{i}" for i in range(6)]
    for name in names:
        replicas.register(factory, name, "")
        age_heartbeat(factory, name, PRUNE_AFTER * 2)
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def beat(name: str) -> None:
        try:
            start.wait()
            for i in range(10):
                replicas.heartbeat(factory, name, {"l": {"partitions": i, "control": False}})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=beat, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    # Stale rows may have been pruned before their replica's first heartbeat;
    # each replica's last heartbeat put its own row back.
    rows = by_id(factory)
    assert sorted(rows) == names
    assert all(row.owned == {"l": {"partitions": 9, "control": False}} for row in rows.values())


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize("value", ["a", "clusterlink-0", "host.example.com-4242", "10.0.0.1:50051", "A_b.c:d-e",
                                   "x" * 255])
def test_valid_replica_ids(value: str):
    assert replicas.validate_replica_id(value) == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("x" * 256, "is 256 characters long"),
        ("a b", "not allowed"),
        ("pod-0\n", "not allowed"),  # what a rule written with `$` lets through
        ("a/b", "not allowed"),
        ("pöd", "not allowed"),
        ("\uff15", "not allowed"),
    ],
)
def test_invalid_replica_ids_are_refused_with_a_message_that_says_what_is_allowed(value: str, problem: str):
    with pytest.raises(ValueError) as info:
        replicas.validate_replica_id(value)
    message = str(info.value)
    assert message.startswith("replica id ") and problem in message
    assert "1 to 255" in message and "A-Z a-z 0-9 . _ : -" in message
    assert len(message) < 300 and "\n" not in message


def test_default_replica_id_is_host_and_pid(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(replicas.socket, "gethostname", lambda: "node-7.example")
    assert replicas.default_replica_id() == f"node-7.example-{os.getpid()}"


@pytest.mark.parametrize("hostname", ["my host/with ünïcode", "", "h" * 400])
def test_default_replica_id_is_valid_whatever_the_hostname(monkeypatch: pytest.MonkeyPatch, hostname: str):
    monkeypatch.setattr(replicas.socket, "gethostname", lambda: hostname)
    value = replicas.default_replica_id()
    assert replicas.validate_replica_id(value) == value
    assert value.endswith(f"-{os.getpid()}")


# --------------------------------------------------------------------------- migration 0007


def test_0007_adds_replicas_and_keeps_existing_rows_without_a_replica(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/old.db"
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0006")
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO links (id, name, source, destination, config, paused, version, create_time, update_time) "
                "VALUES (1, 'l', '{}', '{}', '{}', 0, 1, '2026-01-01', '2026-01-01')"))
            conn.execute(text(
                "INSERT INTO mirror_topics (id, link_id, name, source_topic, state, reason, "
                "delete_destination_topic, version, create_time, update_time) "
                "VALUES (1, 1, 't', 't', 'ACTIVE', '', 0, 1, '2026-01-01', '2026-01-01')"))
            conn.execute(text("INSERT INTO mirror_partitions (mirror_topic_id, partition, source_log_start_offset, "
                              "source_end_offset, mirror_end_offset, mirrored_source_offset, lag, translated) "
                              "VALUES (1, 0, 0, 10, 10, 10, 0, 0)"))
            conn.execute(text("INSERT INTO link_tasks (link_id, name, state, last_error, update_time) "
                              "VALUES (1, 'mirrorTopics/t', 'RUNNING', '', '2026-01-01')"))
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT replica_id FROM mirror_partitions")).scalar_one() is None
            assert conn.execute(text("SELECT replica_id FROM link_tasks")).scalar_one() is None
            assert conn.execute(text("SELECT count(*) FROM replicas")).scalar_one() == 0
        replicas.register(db.session_factory(engine), "r1", "a:1")
        command.downgrade(cfg, "0006")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT lag FROM mirror_partitions")).scalar_one() == 0
            assert conn.execute(text("SELECT state FROM link_tasks")).scalar_one() == "RUNNING"
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
