"""Committed offsets of consumer groups, read with kafka-python's admin client.

librdkafka's admin ListConsumerGroupOffsets follows a missing consumer-group
handle when a broker answers OffsetFetch with NOT_COORDINATOR (or another
"find the coordinator again" error), and the whole process dies of SIGSEGV
(librdkafka issue 5040, still in confluent-kafka 2.16.1; seen here on a
broker that had just started). A coordinator that moves is routine, so the
service reads group offsets with kafka-python instead: it raises an
exception, and sends one OffsetFetch per coordinator for all groups.
"""

from __future__ import annotations

from typing import Any

from kafka.admin import KafkaAdminClient

from clusterlink.kafka import wire
from clusterlink.kafka.clients import Connection

GroupOffsets = dict[tuple[str, int], tuple[int, str]]  # (topic, partition) -> (offset, metadata)


def admin_config(conn: Connection, timeout: float) -> dict[str, Any]:
    timeout_ms = int(timeout * 1000)
    full = wire.manager_config(conn, request_timeout_ms=timeout_ms, max_in_flight=5,
                               receive_max_bytes=100 * 1024 * 1024, client_id="clusterlink-groups")
    return {**{k: v for k, v in full.items() if k in KafkaAdminClient.DEFAULT_CONFIG},
            "bootstrap_timeout_ms": timeout_ms}


def _c_string(metadata: str | None) -> str:
    """Commit metadata as librdkafka reads and writes it: up to the first NUL.

    librdkafka commits metadata with its C string's NUL terminator, and the
    destination is written with librdkafka, which cannot take a NUL inside
    and adds the terminator again."""
    return (metadata or "").split("\x00", 1)[0]


class GroupOffsetReader:
    """One admin client per cluster, made on first use and again after a failure."""

    def __init__(self, conn: Connection, timeout: float):
        self._conn, self._timeout = conn, timeout
        self._admin: KafkaAdminClient | None = None

    def read(self, groups: list[str]) -> dict[str, GroupOffsets]:
        """Raises kafka.errors.KafkaError when a cluster or a group refuses."""
        if not groups:
            return {}
        if self._admin is None:
            self._admin = KafkaAdminClient(**admin_config(self._conn, self._timeout))
        try:
            found = self._admin.list_group_offsets({g: None for g in groups})
        except Exception:
            self.close()  # a fresh client finds the coordinators again
            raise
        return {group: {(tp.topic, tp.partition): (om.offset, _c_string(om.metadata)) for tp, om in offsets.items()}
                for group, offsets in found.items()}

    def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            admin.close()
