"""librdkafka settings for the clients a link uses.

Connection settings come from the store (secrets already decrypted by the
caller). The dicts built here carry secrets: never log them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

# A login failure older than this no longer explains a failing call.
LOGIN_ERROR_TTL = 60.0
_LOGIN_ERRORS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


@dataclass(frozen=True)
class Connection:
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_ca_pem: str = ""
    ssl_certificate_pem: str = ""
    ssl_key_pem: str = field(default="", repr=False)

    @classmethod
    def from_store(cls, public: dict[str, Any], secrets: dict[str, str]) -> Connection:
        fields = {k: v for k, v in public.items() if k in cls.__dataclass_fields__ and v}
        fields.update({k: v for k, v in secrets.items() if k in cls.__dataclass_fields__})
        return cls(**fields)


def base_config(conn: Connection) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": conn.bootstrap_servers,
        "security.protocol": conn.security_protocol or "PLAINTEXT",
        # Keep librdkafka's own logging quiet about connection churn; errors
        # still reach error_cb.
        "log.connection.close": False,
        # A restarted broker is back within seconds: do not wait librdkafka's
        # default 10 s between reconnects (every wait delays the mirror).
        "reconnect.backoff.max.ms": 1000,
    }
    if conn.sasl_mechanism:
        cfg["sasl.mechanism"] = conn.sasl_mechanism
        cfg["sasl.username"] = conn.sasl_username
        cfg["sasl.password"] = conn.sasl_password
    if conn.ssl_ca_pem:
        cfg["ssl.ca.pem"] = conn.ssl_ca_pem
    if conn.ssl_certificate_pem:
        cfg["ssl.certificate.pem"] = conn.ssl_certificate_pem
    if conn.ssl_key_pem:
        cfg["ssl.key.pem"] = conn.ssl_key_pem
    return cfg


def admin_config(conn: Connection, timeout_ms: int) -> dict[str, Any]:
    return {**base_config(conn), "socket.timeout.ms": timeout_ms}


class LinkAdmin(AdminClient):
    """An admin client that remembers a failed login.

    librdkafka fails a call on a cluster that refuses the login (a wrong SASL
    password, an untrusted certificate) with a transport error or a timeout,
    like an unreachable cluster; the login error itself only reaches the
    error callback. `failed_login` tells the two apart.
    """

    def __init__(self, conn: Connection, timeout_ms: int):
        self._login_error: tuple[KafkaError, float] | None = None
        super().__init__({**admin_config(conn, timeout_ms), "error_cb": self._on_error})

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in _LOGIN_ERRORS:
            self._login_error = (err, time.monotonic())

    def failed_login(self) -> KafkaError | None:
        """The login error of the last minute, if any (serves pending callbacks first)."""
        self.poll(0)
        if self._login_error is None or time.monotonic() - self._login_error[1] > LOGIN_ERROR_TTL:
            return None
        return self._login_error[0]


def source_consumer_config(
    conn: Connection, *, fetch_max_bytes: int, buffer_kbytes: int, group_id: str
) -> dict[str, Any]:
    return {
        **base_config(conn),
        # Offsets are never committed: the destination is the resume point.
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Aborted records and transaction markers must not be mirrored.
        "isolation.level": "read_committed",
        # Out of range only happens when the source deleted records we have
        # not mirrored yet; continuing from the log start records a gap.
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": fetch_max_bytes,
        "max.partition.fetch.bytes": min(fetch_max_bytes, 10 * 1024 * 1024),
        "queued.max.messages.kbytes": buffer_kbytes,
        "enable.partition.eof": False,
        "check.crcs": False,
    }


def destination_producer_config(
    conn: Connection, *, compression: str, linger_ms: int, buffer_kbytes: int
) -> dict[str, Any]:
    return {
        **base_config(conn),
        # Exactly one copy of each record, in order, even across retries.
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        # Never give up on a record while the destination is down: a dropped
        # record would shift every later offset. The worker stops on fatal errors.
        "message.timeout.ms": 0,
        "compression.type": compression,
        "linger.ms": linger_ms,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.kbytes": buffer_kbytes,
        "queue.buffering.max.messages": 500_000,
        "message.max.bytes": 16 * 1024 * 1024,
    }
