"""reconcile.diff.plan: tables of wanted/running -> expected plan, then convergence."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from clusterlink.reconcile.diff import DesiredLink, LinkRow, MirrorRow, Plan, RunningLink, desired_state, plan


def D(version: int, *mirrors: int) -> DesiredLink:  # noqa: N802 - table shorthand
    return DesiredLink(version, frozenset(mirrors))


def R(version: int, *mirrors: int, stopping: bool = False) -> RunningLink:  # noqa: N802 - table shorthand
    return RunningLink(version, frozenset(mirrors), stopping)


def fs(*ids: int) -> frozenset[int]:
    return frozenset(ids)


# (desired, running, deleting, expected plan)
CASES = {
    "nothing": ({}, {}, {}, Plan()),
    "in sync": ({1: D(1, 10, 11)}, {1: R(1, 10, 11)}, {}, Plan()),
    # starting
    "new link starts with its mirrors": (
        {1: D(3, 10, 11)}, {}, {}, Plan(start_links={1: 3}, add_mirrors={1: fs(10, 11)}),
    ),
    "a link that wants no mirror is not started": ({1: D(1)}, {}, {}, Plan()),
    # stopping
    "deleted link is stopped": ({}, {1: R(1, 10)}, {}, Plan(stop_links=fs(1))),
    "paused link (no mirror wanted) is stopped": ({1: D(1)}, {1: R(1, 10)}, {}, Plan(stop_links=fs(1))),
    "changed version is stopped, not started yet": (
        {1: D(2, 10)}, {1: R(1, 10)}, {}, Plan(stop_links=fs(1)),
    ),
    "stopping runtime blocks the new one": ({1: D(2, 10)}, {1: R(1, 10, stopping=True)}, {}, Plan()),
    "stopping runtime of the same version blocks too": (
        {1: D(1, 10)}, {1: R(1, 10, stopping=True)}, {}, Plan(),
    ),
    "stopping runtime is not stopped twice": ({}, {1: R(1, 10, stopping=True)}, {}, Plan()),
    # mirrors of a runtime that stays
    "mirror added to a running runtime": (
        {1: D(1, 10, 11)}, {1: R(1, 10)}, {}, Plan(add_mirrors={1: fs(11)}),
    ),
    "mirror removed from a running runtime": (
        {1: D(1, 10)}, {1: R(1, 10, 11)}, {}, Plan(remove_mirrors={1: fs(11)}),
    ),
    "mirrors added and removed at once": (
        {1: D(1, 10, 12)}, {1: R(1, 10, 11)}, {}, Plan(add_mirrors={1: fs(12)}, remove_mirrors={1: fs(11)}),
    ),
    "a changed version is not patched mirror by mirror": (
        {1: D(2, 10, 12)}, {1: R(1, 10, 11)}, {}, Plan(stop_links=fs(1)),
    ),
    # deletions
    "deleting mirror leaves its runtime first": (
        {1: D(1, 10)}, {1: R(1, 10, 11)}, {11: 1}, Plan(remove_mirrors={1: fs(11)}),
    ),
    "deleting the last mirror stops the runtime": ({}, {1: R(1, 11)}, {11: 1}, Plan(stop_links=fs(1))),
    "deleting mirror of a stopping runtime waits": ({}, {1: R(1, 11, stopping=True)}, {11: 1}, Plan()),
    "deleting mirror no runtime runs is finished": ({1: D(1, 10)}, {1: R(1, 10)}, {11: 1}, Plan(finish_deletes=fs(11))),
    "deleting mirror of a link without runtime is finished": ({}, {}, {11: 1}, Plan(finish_deletes=fs(11))),
    "deleting mirror is never wanted, even if listed": (
        {1: D(1, 10, 11)}, {1: R(1, 10, 11)}, {11: 1}, Plan(remove_mirrors={1: fs(11)}),
    ),
    "deleting mirror is not started with its link": (
        {1: D(1, 10, 11)}, {}, {11: 1},
        Plan(start_links={1: 1}, add_mirrors={1: fs(10)}, finish_deletes=fs(11)),
    ),
    # several links at once
    "links are planned independently": (
        {1: D(1, 10), 2: D(5, 20), 4: D(1, 40, 41)},
        {1: R(1, 10), 2: R(4, 20), 3: R(1, 30), 4: R(1, 40)},
        {30: 3, 50: 5},
        Plan(stop_links=fs(2, 3), add_mirrors={4: fs(41)}, finish_deletes=fs(50)),
    ),
}


@pytest.mark.parametrize(("desired", "running", "deleting", "expected"), CASES.values(), ids=CASES.keys())
def test_plan(desired, running, deleting, expected):
    assert plan(desired, running, deleting) == expected


@pytest.mark.parametrize(("desired", "running", "deleting", "expected"), CASES.values(), ids=CASES.keys())
def test_planning_twice_before_anything_changed_gives_the_same_plan(desired, running, deleting, expected):
    assert plan(desired, running, deleting) == plan(desired, running, deleting)


def test_empty():
    assert Plan().empty
    assert not Plan(finish_deletes=fs(1)).empty
    assert not Plan(add_mirrors={1: fs(2)}).empty


# --------------------------------------------------------------------------- carrying plans out


def carry_out(p: Plan, running: Mapping[int, RunningLink]) -> dict[int, RunningLink]:
    """What the reconciler does with a plan: request stops, start, add, remove."""
    out = dict(running)
    for link_id in p.stop_links:
        assert not out[link_id].stopping, "a stopping runtime was stopped again"
        out[link_id] = RunningLink(out[link_id].version, out[link_id].mirrors, stopping=True)
    for link_id, version in p.start_links.items():
        assert link_id not in out, "a second runtime was started for one link"
        out[link_id] = RunningLink(version, frozenset())
    for link_id, ids in p.add_mirrors.items():
        run = out[link_id]
        assert not run.stopping
        out[link_id] = RunningLink(run.version, run.mirrors | ids)
    for link_id, ids in p.remove_mirrors.items():
        run = out[link_id]
        assert not run.stopping
        out[link_id] = RunningLink(run.version, run.mirrors - ids)
    return out


def threads_finish(running: Mapping[int, RunningLink]) -> dict[int, RunningLink]:
    return {link_id: run for link_id, run in running.items() if not run.stopping}


def converge(desired, running, deleting, *, stops_lag: bool):  # type: ignore[no-untyped-def]
    """Plans and carries out until nothing is left to do.

    Returns what runs, what is still DELETING and what is wanted at the end
    (finished deletes are gone from it), and the passes it took.
    """
    running, deleting = dict(running), dict(deleting)
    for passes in range(1, 10):
        p = plan(desired, running, deleting)
        if p.empty and not any(run.stopping for run in running.values()):
            return running, deleting, desired, passes
        for mirror_id in p.finish_deletes:
            assert all(mirror_id not in run.mirrors for run in running.values())
            del deleting[mirror_id]
        # A finished delete drops the mirror's row: it is wanted nowhere any more.
        desired = {k: DesiredLink(v.version, v.mirrors - p.finish_deletes) for k, v in desired.items()}
        running = carry_out(p, running)
        if stops_lag:
            # The stopping runtimes are still there on the next pass...
            again = plan(desired, running, deleting)
            assert not again.start_links.keys() & running.keys()
            assert not again.stop_links
        # ...and gone on the one after.
        running = threads_finish(running)
    raise AssertionError("the plans never converged")


def expected_running(desired, deleting) -> dict[int, RunningLink]:
    out = {}
    for link_id, want in desired.items():
        mirrors = want.mirrors - deleting.keys()
        if mirrors:
            out[link_id] = RunningLink(want.version, mirrors)
    return out


@pytest.mark.parametrize("stops_lag", [False, True])
@pytest.mark.parametrize(("desired", "running", "deleting", "expected"), CASES.values(), ids=CASES.keys())
def test_carrying_out_the_plan_converges_to_an_empty_plan(desired, running, deleting, expected, stops_lag):
    final, left, wanted, passes = converge(desired, running, deleting, stops_lag=stops_lag)
    assert final == expected_running(desired, deleting)
    assert left == {}
    assert passes <= 3  # stop, then start, then nothing to do
    assert plan(wanted, final, left).empty


def random_world(rng: random.Random) -> tuple[dict[int, DesiredLink], dict[int, RunningLink], dict[int, int]]:
    desired, running, deleting = {}, {}, {}
    for link_id in range(1, 6):
        ids = list(range(link_id * 10, link_id * 10 + 5))
        if rng.random() < 0.7:
            desired[link_id] = DesiredLink(rng.choice([1, 2]), frozenset(rng.sample(ids, rng.randint(0, 4))))
        if rng.random() < 0.7:
            running[link_id] = RunningLink(
                rng.choice([1, 2]), frozenset(rng.sample(ids, rng.randint(0, 4))), rng.random() < 0.3
            )
        for mirror_id in ids:
            if rng.random() < 0.15:
                deleting[mirror_id] = link_id
    return desired, running, deleting


@pytest.mark.parametrize("seed", range(100))
def test_random_worlds_converge_without_two_runtimes_per_link(seed):
    desired, running, deleting = random_world(random.Random(seed))
    final, left, wanted, passes = converge(desired, running, deleting, stops_lag=bool(seed % 2))
    assert final == expected_running(desired, deleting)
    assert left == {}
    assert plan(wanted, final, left).empty
    assert passes <= 4  # wait for a stopping runtime, stop, start, nothing to do


# --------------------------------------------------------------------------- from store rows


def test_desired_state_from_rows():
    links = [LinkRow(1, 4, False, False), LinkRow(2, 1, True, False), LinkRow(3, 1, False, False)]
    rows = [
        MirrorRow(link_id=1, mirror_id=10, state="ACTIVE"),
        MirrorRow(link_id=1, mirror_id=11, state="PENDING"),
        MirrorRow(link_id=1, mirror_id=12, state="PAUSED"),
        MirrorRow(link_id=1, mirror_id=13, state="DELETING"),
        MirrorRow(link_id=1, mirror_id=14, state="PROMOTING"),
        MirrorRow(link_id=1, mirror_id=15, state="SOURCE_UNAVAILABLE"),
        MirrorRow(link_id=1, mirror_id=16, state="FAILED"),
        MirrorRow(link_id=1, mirror_id=17, state="PROMOTED"),
        MirrorRow(link_id=2, mirror_id=20, state="ACTIVE"),
        MirrorRow(link_id=2, mirror_id=21, state="DELETING"),
        MirrorRow(link_id=3, mirror_id=30, state="FAILED_OVER"),
    ]
    desired, deleting = desired_state(links, rows)
    assert desired == {1: D(4, 10, 11, 14, 15)}
    assert deleting == {13: 1, 21: 2}


def test_a_standing_link_is_wanted_without_mirrors_unless_paused():
    links = [LinkRow(1, 2, False, True), LinkRow(2, 1, True, True), LinkRow(3, 1, False, False)]
    desired, _ = desired_state(links, [MirrorRow(link_id=3, mirror_id=30, state="FAILED")])
    assert desired == {1: DesiredLink(2, frozenset(), standing=True)}


def test_a_standing_link_starts_and_keeps_running_with_no_mirror():
    desired = {1: DesiredLink(2, frozenset(), standing=True)}
    todo = plan(desired, {}, {})
    assert todo.start_links == {1: 2} and not todo.add_mirrors
    assert plan(desired, {1: RunningLink(2, frozenset())}, {}).empty
    # Turning the task off (a new version, not standing, no mirror) stops it.
    assert plan({}, {1: RunningLink(2, frozenset())}, {}).stop_links == {1}
