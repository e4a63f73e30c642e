"""GroupMembership: a replica's share of one link, decided by Kafka's group protocol.

Every replica joins two consumer groups per link on the link's source cluster
(classic protocol, cooperative-sticky assignment: a rebalance moves only the
partitions that must move):
- the data group (PREFIX+LINK) subscribes to the link's mirrored source
  topics; the partitions it assigns are the ones this replica copies;
- the control group (PREFIX+LINK+".control") subscribes to CONTROL_TOPIC; the
  member assigned its partition 0 runs the link's once-per-link work. A group
  of its own, so that the 50 partitions of a production __consumer_offsets
  never weigh in the balance of the data partitions.
The consumers never fetch: every assigned partition is paused at once, and
the data path stays the link runtime's.

Why the classic protocol: its session timeout is the client's
(`session.timeout.ms`), so a dead replica's partitions move within the
timeout the operator sets; with KIP-848 the broker sets it (45 s default).

One thread polls both consumers; librdkafka runs the rebalance callbacks on
it, and only it touches them. A process frozen past the session timeout
(SIGSTOP, a VM pause) has lost its partitions when it wakes, but only learns
so on its next poll: `may_write` stays False until a round of polls that
began after the freeze has returned, and librdkafka reports the loss within
that round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from clusterlink.kafka.clients import Connection, base_config
from clusterlink.replicas.ownership import CONTROL_TOPIC, NOTHING, Owned

log = logging.getLogger(__name__)

# One round of polls blocks this long when nothing happens (a timer on the network, not a busy loop).
POLL_SECONDS = 0.5
# librdkafka reports a lasting problem again on every retry (about once a second):
# one not reported again for this long is over.
PROBLEM_TTL = 10.0
# After the consumers fail as a whole, they are built again after this long.
RESTART_SECONDS = 5.0
_LOGIN = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED})
_DENIED = frozenset({KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED})
_UNREACHABLE = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
                          KafkaError._TIMED_OUT})


def group_id(prefix: str, link_name: str) -> str:
    return f"{prefix}{link_name}"


def control_group_id(prefix: str, link_name: str) -> str:
    return f"{prefix}{link_name}.control"


class GroupMembership:
    def __init__(self, source: Connection, group: str, control_group: str, replica_id: str,
                 session_timeout_ms: int):
        self.group = group
        self.control_group = control_group
        self.replica_id = replica_id
        self._bootstrap = source.bootstrap_servers
        self._config = {
            **base_config(source),
            "group.protocol": "classic",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(100, session_timeout_ms // 3),
            # The thread polls every POLL_SECONDS; a thread stuck longer than
            # this gives its partitions up (librdkafka leaves the group).
            "max.poll.interval.ms": max(session_timeout_ms + 5000, 15000),
            # Partitions added to a source topic reach the assignment after the
            # next metadata refresh (librdkafka's default waits 5 minutes).
            "topic.metadata.refresh.interval.ms": 5000,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "client.id": f"clusterlink-{replica_id}",
            "error_cb": self._on_error,
        }
        self._session = session_timeout_ms / 1000
        self._lock = threading.Lock()
        self._owned: frozenset[tuple[str, int]] = frozenset()
        self._topics: frozenset[str] = frozenset()
        self._problem = ("", "", 0.0)  # code, text, monotonic time
        # Monotonic start of the last round of polls that returned: ownership is proven up to there.
        self._proven = 0.0
        self._stop = threading.Event()
        self._on_change: Callable[[], None] = lambda: None
        self._thread = threading.Thread(target=self._run, name=f"membership-{group}", daemon=True)

    # -- the runtime's side (any thread) ---------------------------------------

    def start(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._thread.start()

    def owned(self) -> Owned:
        with self._lock:
            code, text, when = self._problem
            if time.monotonic() - when > PROBLEM_TTL:
                code, text = "", ""
            if not self._fresh():
                return Owned(frozenset(), control=False, problem=text, problem_code=code)
            parts = self._owned
            return Owned(frozenset(p for p in parts if p[0] != CONTROL_TOPIC),
                         control=(CONTROL_TOPIC, 0) in parts, problem=text, problem_code=code)

    def may_write(self) -> bool:
        with self._lock:
            return self._fresh()

    def subscribe(self, topics: Iterable[str]) -> None:
        with self._lock:
            self._topics = frozenset(topics)

    def close(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def closed(self) -> bool:
        return not self._thread.is_alive()

    def _fresh(self) -> bool:
        return time.monotonic() - self._proven < self._session

    # -- the poll thread -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve()
            except Exception as exc:  # noqa: BLE001 - built again; the link shows the problem meanwhile
                log.exception("group %s: membership failed; joining again in %.0fs", self.group, RESTART_SECONDS)
                with self._lock:
                    self._problem = ("SOURCE_UNAVAILABLE", f"the replica's group membership failed: {exc}",
                                     time.monotonic())
                self._stop.wait(RESTART_SECONDS)

    def _serve(self) -> None:
        data = Consumer({**self._config, "group.id": self.group})
        control = Consumer({**self._config, "group.id": self.control_group})
        subscribed: frozenset[str] | None = None
        try:
            control.subscribe([CONTROL_TOPIC], on_assign=self._assigned, on_revoke=self._revoked,
                              on_lost=self._lost)
            while not self._stop.is_set():
                with self._lock:
                    topics = self._topics
                if topics != subscribed:
                    if topics:
                        data.subscribe(sorted(topics), on_assign=self._assigned, on_revoke=self._revoked,
                                       on_lost=self._lost)
                    else:
                        data.unsubscribe()
                    subscribed = topics
                began = time.monotonic()
                for consumer in (data, control):
                    msg = consumer.poll(POLL_SECONDS / 2)
                    if msg is not None and msg.error() is not None:
                        self._on_error(msg.error())
                with self._lock:
                    was_fresh = self._fresh()
                    self._proven = began
                if not was_fresh:
                    self._on_change()
        finally:
            with self._lock:
                self._owned, self._proven = frozenset(), 0.0
            self._on_change()
            for consumer in (data, control):
                try:
                    consumer.close()  # leaves the group: the others take the partitions at once
                except (KafkaException, RuntimeError) as exc:
                    log.info("group %s: leaving: %s", self.group, exc)

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        if partitions:
            consumer.pause(partitions)  # membership only: the data path copies
        self._change({(tp.topic, tp.partition) for tp in partitions}, set())

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_unassign(partitions)
        self._change(set(), {(tp.topic, tp.partition) for tp in partitions})

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("replica %s lost its partitions in group %s (session timed out)", self.replica_id, self.group)
        self._revoked(consumer, partitions)

    def _change(self, added: set[tuple[str, int]], removed: set[tuple[str, int]]) -> None:
        with self._lock:
            self._owned = (self._owned - removed) | added
            if added:
                self._problem = ("", "", 0.0)
        if added or removed:
            log.info("replica %s in group %s: +%d -%d partitions", self.replica_id, self.group,
                     len(added), len(removed))
        self._on_change()

    def _on_error(self, err: KafkaError) -> None:
        """What keeps this replica out of the group, for the link's status (never the password:
        librdkafka's messages do not carry it)."""
        code = err.code()
        if code in _LOGIN:
            problem = ("AUTHENTICATION_ERROR",
                       f"cannot log in to the source cluster at {self._bootstrap}: {err.str()}")
        elif code in _DENIED:
            problem = ("AUTHORIZATION_ERROR",
                       f"cannot join group {self.group!r} on the source cluster: {err.str()}; the link's user "
                       f"needs Read on the group and Describe on topic {CONTROL_TOPIC}")
        elif code in _UNREACHABLE:
            problem = ("SOURCE_UNAVAILABLE", f"cannot reach the source cluster at {self._bootstrap}: {err.str()}")
        else:
            log.debug("group %s: %s", self.group, err.str())
            return
        now = time.monotonic()
        with self._lock:
            code_now, _text, when = self._problem
            if problem[0] == "SOURCE_UNAVAILABLE" and code_now not in ("", "SOURCE_UNAVAILABLE") \
                    and now - when < PROBLEM_TTL:
                # librdkafka also reports a refused login as "all brokers down":
                # the refusal is the reason, keep it.
                return
            changed = self._problem[:2] != problem
            self._problem = (*problem, now)
        if changed:
            self._on_change()


__all__ = ["GroupMembership", "NOTHING", "control_group_id", "group_id"]
