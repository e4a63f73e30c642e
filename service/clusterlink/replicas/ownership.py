"""What one replica may copy and run: the answer the link runtime acts on.

A replica never decides this itself. With one replica (SQLite, the default)
it owns everything (`Everything`). With several replicas on PostgreSQL,
Kafka's consumer group protocol decides (replicas.membership): each link has
a data group on its source cluster, and a replica owns the source partitions
that group assigns to it. Control work that must run once per link
(preparing destination topics, promotion, the link's sync tasks) belongs to
the member of the link's control group that is assigned partition 0 of
`CONTROL_TOPIC`: the group hands it to exactly one member at a time, as it
does every partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

# Every Kafka cluster with consumer groups has it, and its partition 0 is
# assigned to exactly one member of the group like any other partition.
CONTROL_TOPIC = "__consumer_offsets"


@dataclass(frozen=True)
class Owned:
    """One replica's share of one link."""

    # (source topic, partition) pairs this replica copies; None: every partition.
    partitions: frozenset[tuple[str, int]] | None
    # Runs the link's once-per-link work.
    control: bool
    # A membership problem an operator should see ("" when none), and its
    # LinkTask.ErrorCode name (AUTHENTICATION_ERROR, AUTHORIZATION_ERROR, SOURCE_UNAVAILABLE).
    problem: str = ""
    problem_code: str = ""

    @property
    def everything(self) -> bool:
        return self.partitions is None

    def of_topic(self, topic: str, count: int) -> set[int]:
        """The partitions of `topic` this replica copies (`count`: the topic's partitions, when known)."""
        if self.partitions is None:
            return set(range(count))
        return set(self._by_topic.get(topic, ()))

    @cached_property
    def _by_topic(self) -> dict[str, set[int]]:
        # Looked up once per mirror topic: thousands of partitions over hundreds of topics.
        out: dict[str, set[int]] = {}
        for topic, partition in self.partitions or ():
            out.setdefault(topic, set()).add(partition)
        return out


NOTHING = Owned(frozenset(), control=False)
EVERYTHING = Owned(None, control=True)


class Ownership(Protocol):
    """One link's ownership on this replica, for as long as its runtime runs."""

    def start(self, on_change: Callable[[], None]) -> None:
        """Begins; `on_change` is called (from any thread) whenever `owned()` may have changed."""

    def owned(self) -> Owned: ...

    def may_write(self) -> bool:
        """False while this replica cannot prove it still owns what `owned()` said (a frozen process
        that just woke up): the data path sends nothing until it is True again."""

    def subscribe(self, topics: Iterable[str]) -> None:
        """The link's mirrored source topics changed."""

    def close(self) -> None: ...

    def join(self, timeout: float) -> bool:
        """Waits for `close` to finish (the groups left); True when done."""


class Everything:
    """The only replica: owns every partition and the control work."""

    def start(self, on_change: Callable[[], None]) -> None:
        on_change()

    def owned(self) -> Owned:
        return EVERYTHING

    def may_write(self) -> bool:
        return True

    def subscribe(self, topics: Iterable[str]) -> None:
        pass

    def close(self) -> None:
        pass

    def join(self, timeout: float) -> bool:
        return True
