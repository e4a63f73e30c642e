"""Which errors make a link runtime replace its librdkafka admin clients."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from clusterlink.engine.runtime import STALE_EPOCH_RENEW_INTERVAL, TRANSPORT_RENEW_INTERVAL, stuck_admin_error


def raised(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


def wrapped(inner: BaseException) -> RuntimeError:
    """How a step reports it: its own error, caused by librdkafka's."""
    try:
        try:
            raise inner
        except KafkaException as exc:
            raise RuntimeError("prepare failed") from exc
    except RuntimeError as outer:
        return outer


def test_a_stale_leader_epoch_renews_at_once_even_deep_in_the_chain():
    for code in (KafkaError.FENCED_LEADER_EPOCH, KafkaError.UNKNOWN_LEADER_EPOCH):
        error = stuck_admin_error(wrapped(raised(code)), since_renewed=STALE_EPOCH_RENEW_INTERVAL)
        assert error is not None and error.code() == code


def test_clients_just_renewed_are_not_renewed_again_for_a_stale_epoch():
    """The resync step tries new clients at once: an epoch that stays stale must
    not make it create clients in a loop."""
    exc = raised(KafkaError.FENCED_LEADER_EPOCH)
    assert stuck_admin_error(exc, since_renewed=STALE_EPOCH_RENEW_INTERVAL / 2) is None


def test_a_transport_failure_renews_at_most_every_interval():
    exc = wrapped(raised(KafkaError._TRANSPORT))
    assert stuck_admin_error(exc, since_renewed=TRANSPORT_RENEW_INTERVAL - 1) is None
    error = stuck_admin_error(exc, since_renewed=TRANSPORT_RENEW_INTERVAL)
    assert error is not None and error.code() == KafkaError._TRANSPORT


def test_a_transport_failure_behind_a_refused_login_keeps_the_clients():
    exc = wrapped(raised(KafkaError._TRANSPORT))
    assert stuck_admin_error(exc, since_renewed=3600.0, login_refused=True) is None
    # A stale epoch is the client's own state: new clients still get past it.
    assert stuck_admin_error(raised(KafkaError.FENCED_LEADER_EPOCH), since_renewed=STALE_EPOCH_RENEW_INTERVAL,
                             login_refused=True)


def test_other_errors_keep_the_clients():
    for exc in (raised(KafkaError.TOPIC_AUTHORIZATION_FAILED), raised(KafkaError._TIMED_OUT),
                RuntimeError("no kafka error at all"), KafkaException("a message, not a KafkaError")):
        assert stuck_admin_error(exc, since_renewed=3600.0) is None
