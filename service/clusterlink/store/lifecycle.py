"""Mirror topic lifecycle: which operator action may move which state.

The API checks every requested transition here before writing it, so a
transition that cannot happen is refused up front (FAILED_PRECONDITION) and
never half-applied. Workers move the states they observe (PENDING -> ACTIVE,
ACTIVE <-> SOURCE_UNAVAILABLE, PROMOTING -> PROMOTED, any -> FAILED) with
compare-and-set updates.
"""

from __future__ import annotations

PENDING = "PENDING"
ACTIVE = "ACTIVE"
PAUSED = "PAUSED"
PROMOTING = "PROMOTING"
PROMOTED = "PROMOTED"
FAILED_OVER = "FAILED_OVER"
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
FAILED = "FAILED"
DELETING = "DELETING"

# States in which a worker should be mirroring (unless the link is paused).
RUNNING_STATES = frozenset({PENDING, ACTIVE, SOURCE_UNAVAILABLE, PROMOTING})
# States in which the destination topic belongs to its users again.
WRITABLE_STATES = frozenset({PROMOTED, FAILED_OVER})

# action -> (states it may start from, resulting state). A state already
# equal to the result makes the action a no-op, so applying twice is harmless.
_ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "pause": (frozenset({PENDING, ACTIVE, SOURCE_UNAVAILABLE}), PAUSED),
    # Resume also retries a FAILED mirror once its cause is fixed.
    "resume": (frozenset({PAUSED, FAILED}), ACTIVE),
    "promote": (frozenset({PENDING, ACTIVE, PAUSED, SOURCE_UNAVAILABLE}), PROMOTING),
    # Failover works from every state (a promoted topic is only relabelled):
    # it is the operator's way out when nothing else is possible.
    "failover": (
        frozenset({PENDING, ACTIVE, PAUSED, PROMOTING, PROMOTED, SOURCE_UNAVAILABLE, FAILED}),
        FAILED_OVER,
    ),
}

# Result states that an action treats as "already done".
_ALREADY: dict[str, frozenset[str]] = {
    "pause": frozenset({PAUSED}),
    "resume": frozenset({PENDING, ACTIVE, SOURCE_UNAVAILABLE, PROMOTING}),
    "promote": frozenset({PROMOTING, PROMOTED}),
    "failover": frozenset({FAILED_OVER}),
}


class TransitionError(ValueError):
    """The action cannot be applied in the current state; the message says why."""


def apply(action: str, current: str) -> str:
    """Returns the state after `action`, or raises TransitionError."""
    if current in _ALREADY[action]:
        return current
    sources, result = _ACTIONS[action]
    if current == DELETING:
        raise TransitionError(f"cannot {action} a mirror topic that is being deleted")
    if current not in sources:
        allowed = ", ".join(sorted(sources))
        hint = ""
        if current in WRITABLE_STATES:
            hint = " (it is writable now and no longer mirrors; create a new mirror topic to mirror again)"
        raise TransitionError(
            f"cannot {action} a mirror topic in state {current}{hint}; {action} is allowed from {allowed}"
        )
    return result


def allowed_actions(current: str) -> list[str]:
    return [a for a in _ACTIONS if current in _ACTIONS[a][0] or current in _ALREADY[a]]
