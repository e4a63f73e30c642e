"""How a failed run of a link task becomes the task's error code.

Every admin call of a task wraps its KafkaException in a SideError naming the
cluster it talked to, so "cannot reach" becomes SOURCE_UNAVAILABLE or
DESTINATION_UNAVAILABLE, and an authentication or authorization refusal is
named as such (LinkTask.ErrorCode names).
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout

import kafka.errors as kerrors
from confluent_kafka import KafkaException

# What an admin call raises when it fails: librdkafka's error, the future's
# own timeout when no broker answered in time (e.g. a refused login), or
# kafka-python's error (group offsets are read with it: kafka.groups).
ADMIN_ERRORS = (KafkaException, FutureTimeout, kerrors.KafkaError)


class SideError(Exception):
    """An admin call failed; `side` says which cluster ("source" or "destination")."""

    def __init__(self, side: str, exc: BaseException):
        super().__init__(f"{side}: {exc}")
        self.side = side
        self.cause = exc


class MisconfigurationError(Exception):
    """The task cannot run with the link's settings as they are; the text says what to change."""


_AUTHENTICATION = ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL")
_AUTHORIZATION = ("TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED",
                  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "DELEGATION_TOKEN_AUTHORIZATION_FAILED")
# The cluster has no authorizer: ACLs cannot be read or written there.
_MISCONFIGURED = ("SECURITY_DISABLED",)
_UNREACHABLE = ("_TRANSPORT", "_TIMED_OUT", "_ALL_BROKERS_DOWN", "REQUEST_TIMED_OUT", "_RESOLVE",
                "COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS")


def error_code(exc: BaseException) -> str:
    """The task's error code for a failed run (LinkTask.ErrorCode names)."""
    if isinstance(exc, MisconfigurationError):
        return "MISCONFIGURATION_ERROR"
    if not isinstance(exc, SideError):
        return "INTERNAL_ERROR"
    err = exc.cause.args[0] if isinstance(exc.cause, KafkaException) and exc.cause.args else None
    name = err.name() if hasattr(err, "name") else ""
    if isinstance(exc.cause, kerrors.BrokerResponseError):
        name = exc.cause.message or ""  # Kafka's own error name, e.g. GROUP_AUTHORIZATION_FAILED
    if name in _AUTHENTICATION:
        return "AUTHENTICATION_ERROR"
    if name in _AUTHORIZATION:
        return "AUTHORIZATION_ERROR"
    if name in _MISCONFIGURED:
        return "MISCONFIGURATION_ERROR"
    if name in _UNREACHABLE or not name:
        return "SOURCE_UNAVAILABLE" if exc.side == "source" else "DESTINATION_UNAVAILABLE"
    return "INTERNAL_ERROR"
