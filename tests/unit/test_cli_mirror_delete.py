"""`clusterlink mirror delete --wait`: waits until the mirror is gone and says what blocks it (issue 7)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from clusterlink.cli import mirror_cmd
from clusterlink.cli.client import CliError
from clusterlink.v1 import clusterlink_pb2 as pb

NAME = "links/east/mirrorTopics/orders"


class FakeClient:
    rpc_timeout = 30.0

    def __init__(self, answers: list[Any], task_error: str = "") -> None:
        self.answers = answers
        self.task_error = task_error
        self.calls: list[str] = []

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        self.calls.append(method)
        if method == "GetLink":
            tasks = [pb.LinkTask(name="mirrorTopics/orders", state=pb.LinkTask.ERROR, last_error=self.task_error)] \
                if self.task_error else []
            return pb.Link(name="links/east", status=pb.LinkStatus(tasks=tasks))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


DELETING = pb.MirrorTopic(name=NAME, state=pb.MirrorTopic.DELETING)
GONE = CliError("NOT_FOUND: mirror topic not found", grpc.StatusCode.NOT_FOUND)


def test_returns_once_the_mirror_is_gone() -> None:
    clock = Clock()
    client = FakeClient([DELETING, DELETING, CliError("UNAVAILABLE: restarting", grpc.StatusCode.UNAVAILABLE), GONE])
    mirror_cmd.wait_for_deletion(client, NAME, 60, "mirror topic", clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert client.calls.count("GetMirrorTopic") == 4


def test_times_out_with_what_blocks_the_deletion() -> None:
    clock = Clock()
    client = FakeClient([DELETING], task_error="cannot delete destination topic: TOPIC_AUTHORIZATION_FAILED")
    with pytest.raises(CliError) as info:
        mirror_cmd.wait_for_deletion(client, NAME, 10, 'mirror topic "orders"', clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    text = str(info.value)
    assert text.startswith('mirror topic "orders" is still being deleted after 10 s')
    assert "last error: cannot delete destination topic: TOPIC_AUTHORIZATION_FAILED" in text
    assert clock.now == pytest.approx(10)


def test_other_errors_stop_the_wait() -> None:
    clock = Clock()
    client = FakeClient([CliError("PERMISSION_DENIED: no", grpc.StatusCode.PERMISSION_DENIED)])
    with pytest.raises(CliError, match="PERMISSION_DENIED"):
        mirror_cmd.wait_for_deletion(client, NAME, 10, "m", clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


def test_delete_options() -> None:
    from clusterlink.cli.main import main

    assert main(["mirror", "delete", "east", "orders", "--timeout", "5"]) == 2  # --timeout needs --wait
