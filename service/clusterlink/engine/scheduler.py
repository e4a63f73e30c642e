"""One thread that runs every control step of a link runtime.

A step is a plain callable: it does one bounded piece of work and returns
when it wants to run again (seconds), or None when it is done. Raising is
the other way out: `classify` turns the exception into an Outcome (see
engine.errors), `on_error` records it (mirror and task state), and the step
runs again after the outcome's backoff, doubled per consecutive failure of
that step and capped at the outcome's max_backoff, or is dropped when the outcome is
terminal. Backoff belongs here, not to each step.

The thread never polls: it waits on a condition until the next step is due
or until add/remove/wake/stop signals it. Steps run one at a time, so a step
may touch the runtime's control state without locks. Nothing dies silently:
every exception ends in on_error or in the log.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from clusterlink.engine.errors import Outcome

log = logging.getLogger(__name__)

Step = Callable[[], "float | None"]


@dataclass(eq=False)
class _Entry:
    step: Step
    due: float
    seq: int
    failures: int = 0  # consecutive failures, for the backoff
    woken: bool = False  # wake() while it was running: run again at once


class Scheduler:
    """Runs named steps on one thread, each when it is due."""

    def __init__(
        self,
        name: str,
        classify: Callable[[BaseException], Outcome],
        on_error: Callable[[str, BaseException, Outcome], None],
    ):
        self.name = name
        self._classify = classify
        self._on_error = on_error
        self._cond = threading.Condition()
        self._steps: dict[str, _Entry] = {}
        self._running: tuple[str, _Entry] | None = None
        self._seq = itertools.count()
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- control, from any thread ----------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                raise RuntimeError(f"scheduler {self.name} was started already")
            self._thread = threading.Thread(target=self._run, name=f"scheduler-{self.name}", daemon=True)
        self._thread.start()

    def add(self, name: str, step: Step, delay: float = 0.0) -> None:
        """Runs `step` after `delay` seconds; replaces a step of the same name."""
        with self._cond:
            self._steps[name] = _Entry(step, time.monotonic() + delay, next(self._seq))
            self._cond.notify()

    def remove(self, name: str) -> bool:
        """Drops the step; a run in progress finishes but is not rescheduled. False if unknown."""
        with self._cond:
            found = self._steps.pop(name, None) is not None
            self._cond.notify()
            return found

    def wake(self, name: str) -> bool:
        """Runs the step now (or again as soon as its current run ends). False if unknown."""
        with self._cond:
            entry = self._steps.get(name)
            if entry is None:
                return False
            if self._running is not None and self._running[1] is entry:
                entry.woken = True
            else:
                entry.due = time.monotonic()
            self._cond.notify()
            return True

    def stop(self) -> None:
        """Asks the thread to end after the step it runs now; returns at once."""
        with self._cond:
            self._stop = True
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        """Waits for the thread to end; True when it has (or never started)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    @property
    def stopped(self) -> bool:
        """Stop was asked and the thread has ended (or never started)."""
        with self._cond:
            thread, stop = self._thread, self._stop
        return stop and (thread is None or not thread.is_alive())

    def names(self) -> frozenset[str]:
        with self._cond:
            return frozenset(self._steps)

    # -- the thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                picked = self._next_due()
                if picked is None:
                    return
                self._run_step(*picked)
        except BaseException:
            # Only a bug in this class gets here: say so, loudly.
            log.exception("scheduler %s: thread died", self.name)
            raise

    def _next_due(self) -> tuple[str, _Entry] | None:
        """Waits until a step is due (returns it) or stop is asked (returns None)."""
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                if self._steps:
                    name, entry = min(self._steps.items(), key=lambda item: (item[1].due, item[1].seq))
                    if entry.due <= now:
                        self._running = (name, entry)
                        return name, entry
                    self._cond.wait(entry.due - now)
                else:
                    self._cond.wait()
            return None

    def _run_step(self, name: str, entry: _Entry) -> None:
        try:
            try:
                delay = entry.step()
            except Exception as exc:  # noqa: BLE001 - every error goes through the table
                self._failed(name, entry, exc)
                return
            with self._cond:
                if self._steps.get(name) is not entry:
                    return  # removed or replaced while it ran
                entry.failures = 0
                if delay is None:
                    del self._steps[name]
                else:
                    entry.due = time.monotonic() + (0.0 if entry.woken else max(0.0, delay))
        finally:
            with self._cond:
                self._running = None
                entry.woken = False

    def _failed(self, name: str, entry: _Entry, exc: Exception) -> None:
        try:
            outcome = self._classify(exc)
        except Exception:  # noqa: BLE001 - a broken table must not stop the runtime
            log.exception("scheduler %s: cannot classify the error of step %s", self.name, name)
            outcome = Outcome("unexpected", 1.0)
        if outcome.traceback:
            log.error("scheduler %s: step %s failed", self.name, name, exc_info=exc)
        elif outcome.task_state is None:  # not an error (a restart)
            log.info("scheduler %s: step %s: %s: %s", self.name, name, outcome.kind, exc)
        else:
            log.warning("scheduler %s: step %s: %s: %s", self.name, name, outcome.kind, exc)
        try:
            self._on_error(name, exc, outcome)
        except Exception:  # noqa: BLE001 - recording an error must not stop the runtime
            log.exception("scheduler %s: on_error for step %s failed", self.name, name)
        with self._cond:
            if self._steps.get(name) is not entry:
                return  # removed or replaced meanwhile (on_error may remove it)
            if outcome.backoff is None:
                del self._steps[name]
                return
            backoff = min(outcome.backoff * 2 ** min(entry.failures, 16), outcome.max_backoff)
            entry.failures += 1
            entry.due = time.monotonic() + (0.0 if entry.woken else backoff)
