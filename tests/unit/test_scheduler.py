"""engine.scheduler and the error table of engine.errors.

Threads are synchronised with conditions and deadlines, never with sleeps;
the only fixed waits are windows in which nothing may happen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from clusterlink.engine import errors
from clusterlink.engine.errors import Outcome
from clusterlink.engine.scheduler import Scheduler
from clusterlink.store import lifecycle

DEADLINE = 5.0


class Recorder:
    """Step calls and errors, with a condition to wait on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.calls: list[tuple[str, float]] = []
        self.errors: list[tuple[str, BaseException, Outcome]] = []

    def step(self, name: str, results: Callable[[int], float | None] | None = None) -> Callable[[], float | None]:
        """A step that records its call; results(n) gives the n-th call's return (or raises)."""

        def run() -> float | None:
            with self.cond:
                n = sum(1 for c in self.calls if c[0] == name)
                self.calls.append((name, time.monotonic()))
                self.cond.notify_all()
            return results(n) if results else None

        return run

    def on_error(self, name: str, exc: BaseException, outcome: Outcome) -> None:
        with self.cond:
            self.errors.append((name, exc, outcome))
            self.cond.notify_all()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), f"timed out waiting for {what}: {self.calls}"

    def count(self, name: str) -> int:
        with self.cond:
            return sum(1 for c in self.calls if c[0] == name)

    def times(self, name: str) -> list[float]:
        with self.cond:
            return [t for n, t in self.calls if n == name]

    def order(self) -> list[str]:
        with self.cond:
            return [n for n, _ in self.calls]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make(rec: Recorder) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def build(classify: Callable[[BaseException], Outcome] = errors.classify, on_error=None) -> Scheduler:
        s = Scheduler("test", classify, on_error or rec.on_error)
        made.append(s)
        return s

    yield build
    for s in made:
        s.stop()
    for s in made:
        assert s.join(DEADLINE), "scheduler thread did not end"


def fails(exc: Exception, then: float | None = None, times: int | None = None) -> Callable[[int], float | None]:
    """Raises `exc` on every call (or on the first `times` calls, then returns `then`)."""

    def result(n: int) -> float | None:
        if times is None or n < times:
            raise exc
        return then

    return result


def window() -> None:
    """A short stretch of time in which something must NOT happen."""
    threading.Event().wait(0.2)


# --------------------------------------------------------------------------- running steps


def test_steps_run_in_due_order(rec, make):
    s = make()
    s.add("c", rec.step("c"), delay=0.15)
    s.add("a", rec.step("a"), delay=0.05)
    s.add("b", rec.step("b"), delay=0.10)
    s.add("now", rec.step("now"))
    s.start()
    rec.wait_for("all steps", lambda: len(rec.calls) == 4)
    assert rec.order() == ["now", "a", "b", "c"]


def test_returned_delay_reschedules_and_none_drops(rec, make):
    s = make()
    s.add("again", rec.step("again", lambda n: 0.01 if n < 4 else None))
    s.add("once", rec.step("once"))
    s.start()
    rec.wait_for("five runs", lambda: rec.count("again") == 5)
    rec.wait_for("both dropped", lambda: not s.names())
    assert rec.count("once") == 1
    times = rec.times("again")
    assert all(b - a >= 0.01 for a, b in zip(times, times[1:]))


def test_add_replaces_a_step_of_the_same_name(rec, make):
    s = make()
    s.add("x", rec.step("old"), delay=60)
    s.add("x", rec.step("new"))
    s.start()
    rec.wait_for("the new step", lambda: rec.count("new") == 1)
    assert rec.count("old") == 0
    assert s.names() == frozenset()


def test_remove_before_it_is_due(rec, make):
    s = make()
    s.add("gone", rec.step("gone"), delay=0.05)
    s.add("later", rec.step("later"), delay=0.15)
    assert s.remove("gone")
    assert not s.remove("gone")
    s.start()
    rec.wait_for("the later step", lambda: rec.count("later") == 1)
    assert rec.count("gone") == 0


def test_remove_while_running_is_not_rescheduled(rec, make):
    s = make()
    release = threading.Event()

    def blocking() -> float:
        rec.step("blocking")()
        assert release.wait(DEADLINE)
        return 0.0  # would run again at once if it were rescheduled

    s.add("blocking", blocking)
    s.start()
    rec.wait_for("the step to start", lambda: rec.count("blocking") == 1)
    s.remove("blocking")
    release.set()
    s.add("marker", rec.step("marker"))
    rec.wait_for("the marker", lambda: rec.count("marker") == 1)
    assert rec.count("blocking") == 1


def test_wake_runs_a_step_now(rec, make):
    s = make()
    s.add("slow", rec.step("slow", lambda n: 60.0), delay=60)
    s.start()
    assert s.wake("slow")
    rec.wait_for("the woken step", lambda: rec.count("slow") == 1)
    assert s.wake("slow")
    rec.wait_for("the step woken again", lambda: rec.count("slow") == 2)
    assert not s.wake("unknown")


def test_wake_while_running_runs_it_again_right_after(rec, make):
    s = make()
    release = threading.Event()

    def blocking() -> float:
        rec.step("blocking")()
        if rec.count("blocking") == 1:
            assert release.wait(DEADLINE)
        return 60.0

    s.add("blocking", blocking)
    s.start()
    rec.wait_for("the first run", lambda: rec.count("blocking") == 1)
    s.wake("blocking")
    release.set()
    rec.wait_for("the second run", lambda: rec.count("blocking") == 2)


def test_idle_scheduler_does_not_spin(rec, make):
    s = make()
    waits = 0
    real_wait = s._cond.wait

    def counting_wait(timeout: float | None = None) -> bool:
        nonlocal waits
        waits += 1
        return real_wait(timeout)

    s._cond.wait = counting_wait  # type: ignore[method-assign]
    s.add("far", rec.step("far"), delay=60)
    s.start()
    window()
    assert rec.count("far") == 0
    assert waits <= 2  # one wait for the far step (plus perhaps one for the add)

    empty = make()
    empty.start()
    window()
    assert empty.names() == frozenset()


def test_stop_returns_at_once_and_the_thread_ends_after_the_running_step(rec, make):
    s = make()
    release = threading.Event()

    def blocking() -> float:
        rec.step("blocking")()
        assert release.wait(DEADLINE)
        return 0.0

    s.add("blocking", blocking)
    s.add("next", rec.step("next"), delay=0.01)
    s.start()
    rec.wait_for("the step to start", lambda: rec.count("blocking") == 1)
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 1.0
    assert not s.stopped
    assert not s.join(0.05)
    release.set()
    assert s.join(DEADLINE)
    assert s.stopped
    assert rec.count("next") == 0
    assert rec.count("blocking") == 1


def test_stop_of_an_idle_or_unstarted_scheduler(make):
    idle = make()
    idle.start()
    idle.stop()
    assert idle.join(DEADLINE)
    assert idle.stopped

    never = make()
    assert not never.stopped
    never.stop()
    assert never.stopped
    assert never.join(0)


# --------------------------------------------------------------------------- errors


def fixed(backoff: float | None, kind: str = "x") -> Callable[[BaseException], Outcome]:
    return lambda exc: Outcome(kind, backoff)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def test_backoff_doubles_per_consecutive_failure_and_resets_after_success(rec, make):
    base = 0.05
    # fail, fail, fail, succeed (run again at once), fail, then stop failing.
    outcomes = {0: "fail", 1: "fail", 2: "fail", 3: 0.0, 4: "fail"}

    def result(n: int) -> float | None:
        out = outcomes.get(n)
        if out == "fail":
            raise RuntimeError(f"failure {n}")
        return out  # 0.0 runs again at once; None (n >= 5) drops it

    s = make(classify=fixed(base))
    s.add("flaky", rec.step("flaky", result))
    s.start()
    rec.wait_for("six runs", lambda: rec.count("flaky") == 6)
    g = gaps(rec.times("flaky"))
    assert g[0] >= base and g[1] >= 2 * base and g[2] >= 4 * base
    # After the success the next failure waits the base backoff again, not 8x.
    assert base <= g[4] < 8 * base
    assert [e[0] for e in rec.errors] == ["flaky"] * 4


def test_backoff_is_capped_at_the_outcomes_max(rec, make):
    s = make(classify=lambda exc: Outcome("x", 0.04, max_backoff=0.1))
    s.add("bad", rec.step("bad", fails(RuntimeError("no"))))
    s.start()
    # Capped, eight runs take about 0.7 s; doubling without the cap (0.04 ... 2.56 s)
    # they would take over 5 s, past the wait's deadline.
    rec.wait_for("eight runs", lambda: rec.count("bad") >= 8)
    g = gaps(rec.times("bad"))
    assert g[2] >= 0.1 and g[3] >= 0.1  # 0.16 and 0.32 capped to 0.1


def test_a_step_waiting_on_a_cluster_tries_again_within_seconds_not_half_a_minute():
    """A broker back after a long outage is noticed within CLUSTER_MAX_BACKOFF."""
    assert Outcome("x", 1.0).max_backoff == errors.MAX_BACKOFF == 30.0
    for exc in (errors.SourceUnavailableError("x"), errors.DestinationError("x")):
        assert errors.classify(exc).max_backoff == errors.CLUSTER_MAX_BACKOFF == 5.0
    pending = errors.for_mirror_state(errors.classify(errors.DestinationError("x")), lifecycle.PENDING)
    assert pending.max_backoff == errors.CLUSTER_MAX_BACKOFF
    assert errors.classify(RuntimeError("x")).max_backoff == errors.MAX_BACKOFF


def test_terminal_error_drops_the_step(rec, make):
    s = make(classify=errors.classify)
    s.add("doomed", rec.step("doomed", fails(errors.FatalMirrorError("delete the topic"))))
    s.start()
    rec.wait_for("the error", lambda: len(rec.errors) == 1)
    rec.wait_for("the step dropped", lambda: "doomed" not in s.names())
    name, exc, outcome = rec.errors[0]
    assert name == "doomed" and str(exc) == "delete the topic"
    assert outcome.kind == errors.FATAL and outcome.terminal
    assert rec.count("doomed") == 1


def test_on_error_may_remove_the_step(rec, make):
    def on_error(name, exc, outcome):
        rec.on_error(name, exc, outcome)
        s.remove(name)

    s = make(classify=fixed(0.0), on_error=on_error)
    s.add("once", rec.step("once", fails(RuntimeError("no"))))
    s.add("marker", rec.step("marker"), delay=0.1)
    s.start()
    rec.wait_for("the marker", lambda: rec.count("marker") == 1)
    assert rec.count("once") == 1


def test_on_error_raising_does_not_kill_the_thread(rec, make, caplog):
    def on_error(name, exc, outcome):
        rec.on_error(name, exc, outcome)
        raise ValueError("the store is down")

    s = make(classify=fixed(0.01), on_error=on_error)
    s.add("bad", rec.step("bad", fails(RuntimeError("boom"), then=None, times=2)))
    s.start()
    rec.wait_for("the third run", lambda: rec.count("bad") == 3)
    s.add("after", rec.step("after"))
    rec.wait_for("another step", lambda: rec.count("after") == 1)
    assert "on_error for step bad failed" in caplog.text
    assert "the store is down" in caplog.text


def test_classify_raising_falls_back_to_a_retry(rec, make, caplog):
    def broken(exc: BaseException) -> Outcome:
        raise KeyError("no row")

    s = make(classify=broken)
    s.add("bad", rec.step("bad", fails(RuntimeError("boom"), then=None, times=1)))
    s.start()
    rec.wait_for("the retry", lambda: rec.count("bad") == 2)
    assert rec.errors[0][2].kind == "unexpected"
    assert "cannot classify the error of step bad" in caplog.text


def test_unexpected_errors_are_logged_with_their_traceback(rec, make, caplog):
    caplog.set_level(logging.INFO)
    s = make()
    s.add("bug", rec.step("bug", fails(ZeroDivisionError("oops"), then=None, times=1)))
    s.add("dest", rec.step("dest", fails(errors.DestinationError("refused"))))
    s.start()
    rec.wait_for("both errors", lambda: {e[0] for e in rec.errors} == {"bug", "dest"})
    bug = next(r for r in caplog.records if "step bug" in r.getMessage())
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
    dest = next(r for r in caplog.records if "step dest" in r.getMessage())
    assert dest.levelno == logging.WARNING and "refused" in dest.getMessage() and dest.exc_info is None


def test_start_twice_is_refused(make):
    s = make()
    s.start()
    with pytest.raises(RuntimeError, match="started already"):
        s.start()


# --------------------------------------------------------------------------- the error table


class SubDestinationError(errors.DestinationError):
    pass


@pytest.mark.parametrize(
    ("exc", "kind", "backoff", "mirror_state", "task_state", "traceback"),
    [
        (errors.FatalMirrorError("x"), errors.FATAL, None, lifecycle.FAILED, "ERROR", False),
        (errors.SourceTopicMissingError("x"), errors.SOURCE_TOPIC_MISSING, 5.0, None, "ERROR", False),
        (errors.SourceUnavailableError("x"), errors.SOURCE_UNAVAILABLE, 1.0, lifecycle.SOURCE_UNAVAILABLE, "ERROR",
         False),
        (errors.DestinationError("x"), errors.DESTINATION, 1.0, None, "ERROR", False),
        (SubDestinationError("x"), errors.DESTINATION, 1.0, None, "ERROR", False),
        (RuntimeError("x"), errors.UNEXPECTED, 1.0, None, "ERROR", True),
        (KeyboardInterrupt(), errors.UNEXPECTED, 1.0, None, "ERROR", True),
    ],
)
def test_classify(exc, kind, backoff, mirror_state, task_state, traceback):
    outcome = errors.classify(exc)
    assert (outcome.kind, outcome.backoff, outcome.mirror_state, outcome.task_state, outcome.traceback) == (
        kind, backoff, mirror_state, task_state, traceback,
    )
    assert outcome.terminal == (backoff is None)


def test_state_moves_only_from_the_states_that_allow_them():
    assert errors.classify(errors.FatalMirrorError("x")).mirror_from == lifecycle.RUNNING_STATES
    assert errors.classify(errors.SourceUnavailableError("x")).mirror_from == {lifecycle.PENDING, lifecycle.ACTIVE}


def test_the_exceptions_are_the_engines():
    from clusterlink.engine import prepare

    assert errors.FatalMirrorError is prepare.FatalMirrorError
    assert errors.SourceTopicMissingError is prepare.SourceTopicMissingError


@pytest.mark.parametrize(
    ("state", "backoff", "mirror_state", "reason_prefix"),
    [
        (lifecycle.PENDING, 5.0, None, "waiting: "),
        (lifecycle.ACTIVE, None, lifecycle.FAILED, ""),
        (lifecycle.PROMOTING, None, lifecycle.FAILED, ""),
        (lifecycle.SOURCE_UNAVAILABLE, None, lifecycle.FAILED, ""),
    ],
)
def test_a_missing_source_topic_waits_only_while_pending(state, backoff, mirror_state, reason_prefix):
    outcome = errors.for_mirror_state(errors.classify(errors.SourceTopicMissingError("x")), state)
    assert (outcome.backoff, outcome.mirror_state, outcome.reason_prefix) == (backoff, mirror_state, reason_prefix)
    assert outcome.task_state == "ERROR"


@pytest.mark.parametrize("state", [lifecycle.ACTIVE, lifecycle.SOURCE_UNAVAILABLE, lifecycle.PROMOTING])
def test_a_destination_error_says_waiting_on_a_pending_mirror_only(state):
    """A new mirror has nothing else to show why it stays PENDING; a running one
    keeps its reason (the error shows on its task)."""
    outcome = errors.classify(errors.DestinationError("cannot log in to the destination cluster"))
    pending = errors.for_mirror_state(outcome, lifecycle.PENDING)
    assert (pending.reason_prefix, pending.mirror_state, pending.task_state, pending.backoff) == (
        "waiting: ", None, "ERROR", 1.0)
    assert errors.for_mirror_state(outcome, state) is outcome
    assert outcome.reason_prefix == ""


def test_a_destination_topic_not_served_yet_keeps_its_own_short_wait():
    outcome = errors.classify(errors.DestinationTopicNotServedError("topic 't' has no leader yet"))
    assert errors.for_mirror_state(outcome, lifecycle.PENDING) is outcome
    assert (outcome.backoff, outcome.task_state, outcome.reason_prefix) == (0.5, None, "waiting: ")


def test_other_outcomes_do_not_depend_on_the_mirror_state():
    for exc in (errors.DestinationError("x"), errors.SourceUnavailableError("x"), RuntimeError("x")):
        outcome = errors.classify(exc)
        assert errors.for_mirror_state(outcome, lifecycle.ACTIVE) is outcome
        assert errors.for_mirror_state(outcome, None) is outcome
    missing = errors.classify(errors.SourceTopicMissingError("x"))
    assert errors.for_mirror_state(missing, None) is missing  # the mirror is gone: nothing to decide
