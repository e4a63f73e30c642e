"""The one table from an error to what happens next (pure data).

A control step of a link runtime raises; `classify` looks the exception up
here and says what to show and when to try again: the mirror's lifecycle
state (moved with a compare-and-set from `mirror_from`), the task state, and
the backoff before the step runs again (None: terminal, the step is dropped).
This replaces the except-ladder of `engine.worker.run_worker`: a new error
kind is a new row, not a new branch in every loop.

The table lives apart from the scheduler on purpose: the scheduler only
needs `classify` and `Outcome.backoff` (it takes `classify` as an argument
and knows nothing of Kafka or lifecycles), while the runtime's `on_error`
reads the rest of the row to write mirror and task state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from clusterlink.engine.prepare import (
    DestinationError,
    DestinationTopicNotServedError,
    FatalMirrorError,
    SourceTopicMissingError,
    SourceUnavailableError,
)
from clusterlink.store import lifecycle
from clusterlink.store.db import OwnershipLost

__all__ = [
    "DestinationError",
    "DestinationTopicNotServedError",
    "FatalMirrorError",
    "Outcome",
    "SourceTopicMissingError",
    "SourceUnavailableError",
    "TABLE",
    "classify",
    "for_mirror_state",
]

# Error kinds (Outcome.kind).
FATAL = "fatal"
SOURCE_TOPIC_MISSING = "source_topic_missing"
SOURCE_UNAVAILABLE = "source_unavailable"
DESTINATION = "destination"
DESTINATION_TOPIC_NEW = "destination_topic_new"
OWNERSHIP_LOST = "ownership_lost"
UNEXPECTED = "unexpected"

# LinkTask.state shown for a failing step.
TASK_ERROR = "ERROR"

# The longest wait between two tries of a failing step.
MAX_BACKOFF = 30.0
# The same for a step waiting on a cluster (unreachable, restarting, refusing
# the link's user): a cluster back after minutes is noticed within this.
CLUSTER_MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class Outcome:
    """What an error means for the step that raised it."""

    kind: str
    # Seconds before the step runs again (the scheduler grows it per
    # consecutive failure); None: terminal, the step is dropped.
    backoff: float | None
    # Lifecycle state to move the mirror to, only from one of `mirror_from`
    # (compare-and-set); None leaves the state alone.
    mirror_state: str | None = None
    mirror_from: frozenset[str] = frozenset()
    # Task state to show with the error text; None shows no error.
    task_state: str | None = None
    # Log with the traceback: an error nobody planned for.
    traceback: bool = False
    # Prefix for the mirror's reason text (e.g. "waiting: ").
    reason_prefix: str = ""
    # The growing backoff stops here.
    max_backoff: float = MAX_BACKOFF

    @property
    def terminal(self) -> bool:
        return self.backoff is None


_UNEXPECTED = Outcome(UNEXPECTED, 1.0, task_state=TASK_ERROR, traceback=True)

# Exception class -> outcome. `classify` walks the exception's class
# hierarchy, so the most specific row wins whatever the order here
# (SourceTopicMissingError is a FatalMirrorError but has its own row).
TABLE: dict[type[BaseException], Outcome] = {
    # A person must act (the message says what): the mirror fails, the step stops.
    FatalMirrorError: Outcome(
        FATAL, None, mirror_state=lifecycle.FAILED, mirror_from=lifecycle.RUNNING_STATES, task_state=TASK_ERROR
    ),
    # A new mirror may wait for its source topic (a chain whose middle hop is
    # still being created); one that was running fails. The mirror's current
    # state decides: see `for_mirror_state`.
    SourceTopicMissingError: Outcome(SOURCE_TOPIC_MISSING, 5.0, task_state=TASK_ERROR),
    SourceUnavailableError: Outcome(
        SOURCE_UNAVAILABLE,
        1.0,
        mirror_state=lifecycle.SOURCE_UNAVAILABLE,
        mirror_from=frozenset({lifecycle.PENDING, lifecycle.ACTIVE}),
        task_state=TASK_ERROR,
        max_backoff=CLUSTER_MAX_BACKOFF,
    ),
    # The destination has no state of its own for this: a new mirror waits in
    # PENDING and says why (see _BY_STATE); a running one shows it on its task.
    DestinationError: Outcome(DESTINATION, 1.0, task_state=TASK_ERROR, max_backoff=CLUSTER_MAX_BACKOFF),
    # The destination broker has not applied a topic it just created: nothing is
    # wrong, the mirror says what it waits for and is prepared again shortly.
    DestinationTopicNotServedError: Outcome(DESTINATION_TOPIC_NEW, 0.5, reason_prefix="waiting: "),
    # Another serve owns the database now: write nothing more (the store
    # refuses it anyway); the process stops on its lock check.
    OwnershipLost: Outcome(OWNERSHIP_LOST, None),
    Exception: _UNEXPECTED,
}

# (kind, current mirror state) -> outcome, for the kinds whose meaning
# depends on the state; any other state gets the `*` row.
_BY_STATE: dict[tuple[str, str], Outcome] = {
    # The DestinationError row, and the mirror says what it waits for.
    (DESTINATION, lifecycle.PENDING): replace(TABLE[DestinationError], reason_prefix="waiting: "),
    (SOURCE_TOPIC_MISSING, lifecycle.PENDING): Outcome(
        SOURCE_TOPIC_MISSING, 5.0, task_state=TASK_ERROR, reason_prefix="waiting: "
    ),
    (SOURCE_TOPIC_MISSING, "*"): Outcome(
        SOURCE_TOPIC_MISSING,
        None,
        mirror_state=lifecycle.FAILED,
        mirror_from=lifecycle.RUNNING_STATES,
        task_state=TASK_ERROR,
    ),
}


def classify(exc: BaseException) -> Outcome:
    """The table's row for `exc`: its own class's, else its nearest base class's."""
    for cls in type(exc).__mro__:
        outcome = TABLE.get(cls)
        if outcome is not None:
            return outcome
    return _UNEXPECTED  # a BaseException that is not an Exception


def for_mirror_state(outcome: Outcome, mirror_state: str | None) -> Outcome:
    """Refines an outcome with the mirror's current state (None: the mirror is gone).

    A SourceTopicMissingError leaves a PENDING mirror waiting (reason
    "waiting: ...", retried every 5 s) and fails any other. A DestinationError
    gives a PENDING mirror the reason "waiting: ..." too; a running mirror
    keeps its state and reason, the error shows on its task. When the refined
    outcome is terminal but the scheduler got a retrying one, the runtime's
    on_error removes the step (Scheduler.remove works from inside on_error).
    """
    if mirror_state is None:
        return outcome
    return _BY_STATE.get((outcome.kind, mirror_state)) or _BY_STATE.get((outcome.kind, "*")) or outcome
