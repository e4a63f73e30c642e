"""Reading destination offsets while the broker is still creating some topics.

A broker serves a topic a while after CreateTopics answered; with thousands of new
partitions, a minute on a busy machine. The topics it serves go on; the others wait
and are tried again, instead of failing the whole batch of mirrors.
"""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException

from clusterlink.engine.errors import DESTINATION_TOPIC_NEW, DestinationTopicNotServedError, classify
from clusterlink.kafka.admin import list_offsets_settled, retry_pause


class _Offset:
    def __init__(self, offset: int):
        self.offset = offset


class _Admin:
    """Answers ListOffsets like a broker that leads the `late` topics only from call `b_from` on."""

    def __init__(self, b_from: int, error: int = KafkaError.NOT_LEADER_FOR_PARTITION, late: frozenset = frozenset("b")):
        self.calls: list[set[str]] = []
        self.b_from = b_from
        self.error = error
        self.late = late

    def list_offsets(self, request, **_kwargs):
        self.calls.append({tp.topic for tp in request})
        out = {}
        for tp in request:
            fut: Future = Future()
            if tp.topic in self.late and len(self.calls) < self.b_from:
                fut.set_exception(KafkaException(KafkaError(self.error)))
            else:
                fut.set_result(_Offset(10 * tp.partition))
            out[tp] = fut
        return out


def test_a_topic_without_a_leader_is_left_out_and_the_others_go_on():
    admin = _Admin(b_from=1_000)
    offsets, unsettled = list_offsets_settled(admin, {"a": [0, 1], "b": [0]}, "latest", 5.0, wait=0.0)
    assert offsets == {"a": {0: 0, 1: 10}}
    assert set(unsettled) == {"b"} and unsettled["b"].code() == KafkaError.NOT_LEADER_FOR_PARTITION


def test_a_topic_led_within_the_wait_is_read_and_only_it_is_asked_again():
    admin = _Admin(b_from=3)
    offsets, unsettled = list_offsets_settled(admin, {"a": [0], "b": [0, 1]}, "earliest", 5.0, wait=5.0)
    assert offsets == {"a": {0: 0}, "b": {0: 0, 1: 10}} and unsettled == {}
    assert admin.calls == [{"a", "b"}, {"b"}, {"b"}]


class _StaleCacheAdmin(_Admin):
    """librdkafka's way: once a topic is cached without a leader, ListOffsets says
    "No leaders found" (_NOENT) for it until its metadata is asked for again."""

    def __init__(self, late: frozenset = frozenset("b")) -> None:
        super().__init__(b_from=1_000, error=KafkaError._NOENT, late=late)
        self.metadata_asked: list[str | None] = []

    def list_topics(self, topic: str | None = None, **_kwargs):
        self.metadata_asked.append(topic)
        self.b_from = len(self.calls) + 1  # the next ListOffsets finds the leader


def test_a_topic_cached_without_a_leader_has_its_metadata_asked_again():
    admin = _StaleCacheAdmin()
    offsets, unsettled = list_offsets_settled(admin, {"a": [0], "b": [0, 1]}, "latest", 5.0, wait=5.0)
    # Without asking again, "b" would stay leaderless for the whole wait.
    assert offsets == {"a": {0: 0}, "b": {0: 0, 1: 10}} and unsettled == {}
    assert admin.metadata_asked == ["b"]


def test_many_topics_cached_without_a_leader_are_asked_for_in_one_request():
    admin = _StaleCacheAdmin(late=frozenset("bc"))
    offsets, unsettled = list_offsets_settled(admin, {"a": [0], "b": [0], "c": [0]}, "latest", 5.0, wait=5.0)
    assert set(offsets) == {"a", "b", "c"} and unsettled == {}
    assert admin.metadata_asked == [None]  # every topic: one Metadata request


def test_any_other_error_fails_the_whole_read():
    admin = _Admin(b_from=1_000, error=KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        list_offsets_settled(admin, {"a": [0], "b": [0]}, "latest", 5.0, wait=5.0)


def test_a_mirror_waiting_for_its_topic_shows_why_and_is_retried_soon_without_a_task_error():
    outcome = classify(DestinationTopicNotServedError("destination topic 't' has partitions without a leader"))
    assert outcome.kind == DESTINATION_TOPIC_NEW
    assert outcome.backoff is not None and outcome.backoff <= 1.0
    assert outcome.task_state is None and outcome.mirror_state is None
    assert outcome.reason_prefix == "waiting: "


def test_a_retriable_error_is_asked_again_even_past_the_wait():
    # A broker that is restarting answers with a transport error: not a reason to fail the batch.
    admin = _Admin(b_from=3, error=KafkaError._TRANSPORT)
    offsets, unsettled = list_offsets_settled(admin, {"a": [0], "b": [0]}, "latest", 5.0, wait=0.0)
    assert offsets == {"a": {0: 0}, "b": {0: 0}} and unsettled == {}
    assert admin.calls == [{"a", "b"}, {"b"}, {"b"}]


def test_a_retriable_error_that_lasts_past_the_timeout_raises():
    admin = _Admin(b_from=1_000, error=KafkaError._TRANSPORT)
    with pytest.raises(KafkaException):
        list_offsets_settled(admin, {"a": [0], "b": [0]}, "latest", 0.3, wait=0.0)


def test_a_topic_just_created_is_asked_for_again_after_short_pauses_first():
    # A broker serves a new topic tens of milliseconds after CreateTopics answered;
    # waiting 0.1 s from the first "not yet" on held every new mirror that long.
    assert [retry_pause(t) for t in range(1, 7)] == [0.0125, 0.025, 0.05, 0.1, 0.1, 0.1]


def test_reading_offsets_of_a_topic_without_a_leader_yet_asks_again_after_short_pauses(monkeypatch):
    from clusterlink.kafka import admin as kadmin

    pauses: list[float] = []
    monkeypatch.setattr(kadmin.time, "sleep", pauses.append)
    admin = _Admin(b_from=4)
    assert kadmin.list_offsets_many(admin, {"b": [0, 1]}, "latest", 5.0) == {"b": {0: 0, 1: 10}}
    assert pauses == [retry_pause(1), retry_pause(2), retry_pause(3)] == [0.0125, 0.025, 0.05]
