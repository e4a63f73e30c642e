"""The reconcile diff: what to stop, start, add and remove (a pure function).

The reconciler reads what is wanted (from the store) and what runs (its
runtimes), and `plan` says how to move one towards the other. Nothing here
touches a thread, a database or a cluster, so every rule is unit-tested with
plain tables.

The rules, in the order they matter:
- Stop before start. A link whose runtime is stopping gets no new runtime
  until that one is gone: two runtimes of one link never run together (they
  would both write the same destination partitions).
- A runtime is stopped when its link is gone, paused, wants no mirror any
  more (unless the link's tasks need it anyway: `standing`), or has another version (new settings: new clients). A changed link is
  therefore started again on a later pass, once the old runtime has exited.
- A running runtime of the right version only gains and loses mirrors.
- A DELETING mirror is first taken out of its runtime; its row (and maybe its
  destination topic) is deleted only once no runtime, stopping or not, runs it.
- Level-triggered: once the plan has been carried out, planning again gives
  an empty plan, and planning twice before anything changed gives the same
  plan, so a missed or repeated pass is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from clusterlink.store import lifecycle


@dataclass(frozen=True)
class DesiredLink:
    """What the store wants of one link."""

    # links.version: a change means the runtime is rebuilt (new clients).
    version: int
    # Mirror ids that should be mirroring now (state in RUNNING_STATES, link not paused).
    mirrors: frozenset[int]
    # The runtime runs even with no mirror: a task of the link looks at the
    # whole cluster (new topics from filters, ACL sync).
    standing: bool = False


@dataclass(frozen=True)
class RunningLink:
    """What one link's runtime runs now."""

    version: int
    # Mirror ids the runtime runs, including mirrors it is still winding down
    # after a removal: a DELETING mirror is finished only once it is gone from here.
    mirrors: frozenset[int]
    # Stop was requested; its threads have not finished yet.
    stopping: bool = False


@dataclass(frozen=True)
class Plan:
    # Runtimes to stop: link gone, paused, version changed, or neither a mirror nor a task wanted.
    stop_links: frozenset[int] = frozenset()
    # link id -> version: runtimes to start (only where no runtime, stopping or not, exists).
    start_links: dict[int, int] = field(default_factory=dict)
    # link id -> mirror ids to add to a running runtime that stays, or to the one being started.
    add_mirrors: dict[int, frozenset[int]] = field(default_factory=dict)
    # link id -> mirror ids to remove from a running runtime that stays.
    remove_mirrors: dict[int, frozenset[int]] = field(default_factory=dict)
    # DELETING mirror ids that no runtime runs any more: safe to drop the row and the topic.
    finish_deletes: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return not (
            self.stop_links or self.start_links or self.add_mirrors or self.remove_mirrors or self.finish_deletes
        )


def plan(
    desired: Mapping[int, DesiredLink],
    running: Mapping[int, RunningLink],
    deleting: Mapping[int, int],
) -> Plan:
    """How to move `running` towards `desired`.

    `desired` and `running` are keyed by link id; `deleting` maps the id of
    every mirror in state DELETING to its link id. A DELETING mirror is never
    wanted, even if `desired` lists it.
    """
    stop: set[int] = set()
    start: dict[int, int] = {}
    add: dict[int, frozenset[int]] = {}
    remove: dict[int, frozenset[int]] = {}

    def wanted(link_id: int) -> frozenset[int]:
        want = desired.get(link_id)
        return frozenset() if want is None else want.mirrors.difference(deleting)

    def needed(link_id: int) -> bool:
        want = desired.get(link_id)
        return want is not None and (want.standing or bool(wanted(link_id)))

    for link_id, run in running.items():
        if run.stopping:
            continue  # already on its way out; nothing starts until it is gone
        mirrors = wanted(link_id)
        if not needed(link_id) or desired[link_id].version != run.version:
            stop.add(link_id)
            continue
        if mirrors - run.mirrors:
            add[link_id] = mirrors - run.mirrors
        if run.mirrors - mirrors:
            remove[link_id] = run.mirrors - mirrors

    for link_id, want in desired.items():
        mirrors = wanted(link_id)
        if link_id not in running and needed(link_id):
            start[link_id] = want.version
            if mirrors:
                add[link_id] = mirrors

    still_run = frozenset().union(*(run.mirrors for run in running.values()))
    return Plan(
        stop_links=frozenset(stop),
        start_links=start,
        add_mirrors=add,
        remove_mirrors=remove,
        finish_deletes=frozenset(deleting.keys() - still_run),
    )


@dataclass(frozen=True)
class LinkRow:
    """One link as the store has it: the first input of `desired_state`."""

    link_id: int
    version: int
    paused: bool
    # Its tasks need the runtime even with no mirror (link_config.runs_without_mirrors).
    standing: bool


@dataclass(frozen=True)
class MirrorRow:
    """One mirror as the store has it: the second input of `desired_state`."""

    link_id: int
    mirror_id: int
    state: str


def desired_state(links: Iterable[LinkRow],
                  rows: Iterable[MirrorRow]) -> tuple[dict[int, DesiredLink], dict[int, int]]:
    """Turns store rows into `plan`'s `desired` and `deleting` arguments.

    A link appears in `desired` when it is not paused and at least one of its
    mirrors should mirror now, or it is standing; any other link's runtime is
    stopped.
    """
    active = {link.link_id: link for link in links if not link.paused}
    mirrors: dict[int, set[int]] = {}
    deleting: dict[int, int] = {}
    for row in rows:
        if row.state == lifecycle.DELETING:
            deleting[row.mirror_id] = row.link_id
        elif row.state in lifecycle.RUNNING_STATES and row.link_id in active:
            mirrors.setdefault(row.link_id, set()).add(row.mirror_id)
    desired = {
        link_id: DesiredLink(link.version, frozenset(mirrors.get(link_id, ())), link.standing)
        for link_id, link in active.items()
        if link.standing or link_id in mirrors
    }
    return desired, deleting
