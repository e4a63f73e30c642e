"""The reconciler: makes the running link runtimes match the store.

Level-triggered like a Kubernetes controller: every pass reads the whole
desired state, diffs it against what runs (reconcile.diff.plan, a pure
function), stops first, then starts. A pass never waits on a cluster:
runtimes start and stop in their own threads, and a destination topic is
deleted in a thread of its own, so one link's unreachable clusters never
delay another link's mirrors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy import select

from clusterlink.config.link_config import effective, runs_without_mirrors
from clusterlink.engine.mirror import MirrorSpec
from clusterlink.engine.runtime import LinkRuntime, LinkSpec, not_wanted
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka.clients import Connection, admin_config
from clusterlink.metrics.exporter import Metrics, forget_link_tasks
from clusterlink.reconcile.diff import LinkRow, MirrorRow, RunningLink, desired_state, plan
from clusterlink.replicas.settings import ReplicaSettings
from clusterlink.store import progress
from clusterlink.store.models import Link, MirrorTopic
from clusterlink.store.secrets import SecretBox

log = logging.getLogger(__name__)


def build_spec(link: Link, box: SecretBox) -> LinkSpec:
    return LinkSpec(
        link_id=link.id,
        name=link.name,
        version=link.version,
        source=Connection.from_store(link.source, box.open(link.source_secrets)),
        destination=Connection.from_store(link.destination, box.open(link.destination_secrets)),
        config=effective(link.config),
    )


class Reconciler:
    def __init__(self, factory: progress.Factory, box: SecretBox, metrics: Metrics, interval: float = 1.0,
                 replica: ReplicaSettings | None = None, store_ok: Callable[[], bool] = lambda: True):
        self.factory = factory
        self.box = box
        self.metrics = metrics
        self.interval = interval
        self.replica = replica or ReplicaSettings(replica_id="")
        # False once this replica cannot reach the store: it then copies nothing
        # (its runtimes stop and leave their groups, so other replicas take over).
        self.store_ok = store_ok
        self.runtimes: dict[int, LinkRuntime] = {}
        self._deleting: dict[int, threading.Thread] = {}
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            if not self.store_ok():
                self._stop_all_for_store()
                self._wake.wait(min(self.interval, 1.0))
                continue
            try:
                self.reconcile_once()
            except Exception:  # noqa: BLE001 - the loop must outlive a bad pass
                log.exception("reconcile pass failed; retrying")
            # A stopping runtime is checked again soon, so its successor
            # starts as soon as it is gone.
            busy = any(rt.stopping for rt in self.runtimes.values())
            self._wake.wait(min(self.interval, 0.2) if busy else self.interval)
        self.shutdown()

    def reconcile_once(self) -> None:
        with self.factory() as session:
            links = [LinkRow(lid, version, paused, runs_without_mirrors(config or {}))
                     for lid, version, paused, config in session.execute(
                         select(Link.id, Link.version, Link.paused, Link.config)).all()]
            rows = session.execute(select(MirrorTopic.link_id, MirrorTopic.id, MirrorTopic.state)).all()
        desired, deleting = desired_state(links, (MirrorRow(*row) for row in rows))
        for link_id in [lid for lid, rt in self.runtimes.items() if rt.finished]:
            self._stopped(self.runtimes.pop(link_id))
        running = {
            lid: RunningLink(rt.version, rt.mirror_ids(), rt.stopping) for lid, rt in self.runtimes.items()
        }
        todo = plan(desired, running, deleting)
        for link_id in todo.stop_links:
            log.info("stopping the runtime of link %s", self.runtimes[link_id].spec.name)
            self.runtimes[link_id].stop()
        for link_id, mirror_ids in todo.remove_mirrors.items():
            for mirror_id in mirror_ids:
                self.runtimes[link_id].remove_mirror(mirror_id)
        wanted_ids = {m for ids in todo.add_mirrors.values() for m in ids}
        mirrors = self._mirror_specs(wanted_ids) if wanted_ids else {}
        for link_id in todo.start_links:
            self._start(link_id)
        for link_id, mirror_ids in todo.add_mirrors.items():
            runtime = self.runtimes.get(link_id)
            if runtime is None:
                continue
            for mirror_id in mirror_ids:
                spec = mirrors.get(mirror_id)
                if spec is not None:
                    runtime.add_mirror(spec)
        for mirror_id in todo.finish_deletes:
            self._finish_delete(mirror_id)

    def _stop_all_for_store(self) -> None:
        running = [rt for rt in self.runtimes.values() if not rt.stopping]
        if running:
            log.error("cannot reach the store: stopping every link runtime of this replica until it is back")
        for runtime in running:
            runtime.stop()
        for link_id in [lid for lid, rt in self.runtimes.items() if rt.finished]:
            self.runtimes.pop(link_id)  # their STOPPED task states cannot be written now

    def shares(self) -> dict[str, dict[str, object]]:
        """Link name -> this replica's share of it (for the heartbeat and the metrics)."""
        return {rt.spec.name: rt.share() for rt in list(self.runtimes.values()) if not rt.stopping}

    def _stopped(self, runtime: LinkRuntime) -> None:
        """Both threads of the runtime are gone: none of its writes can land any more."""
        forget_link_tasks(self.metrics, runtime.spec.name)
        for m in runtime.stopped_mirrors():
            if not_wanted(progress.read_orders(self.factory, m.mirror_id)):
                progress.set_task(self.factory, runtime.spec.link_id, m.task_name, "STOPPED")
        log.info("the runtime of link %s stopped", runtime.spec.name)

    def _mirror_specs(self, ids: set[int]) -> dict[int, MirrorSpec]:
        with self.factory() as session:
            rows = session.execute(
                select(MirrorTopic.id, MirrorTopic.name, MirrorTopic.source_topic, MirrorTopic.set_aside_topic)
                .where(MirrorTopic.id.in_(ids))
            ).all()
        return {mid: MirrorSpec(mid, name, source, side) for mid, name, source, side in rows}

    def _start(self, link_id: int) -> None:
        with self.factory() as session:
            link = session.get(Link, link_id)
            if link is None:
                return
            spec = build_spec(link, self.box)
        runtime = LinkRuntime(spec, self.factory, self.metrics,
                              self.replica.ownership_for(spec.source, spec.name), self.replica.replica_id)
        self.runtimes[link_id] = runtime
        runtime.start()
        log.info("started the runtime of link %s", spec.name)

    def _finish_delete(self, mirror_id: int) -> None:
        thread = self._deleting.get(mirror_id)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=self._delete, args=(mirror_id,), name=f"delete-{mirror_id}", daemon=True)
        self._deleting[mirror_id] = thread
        thread.start()

    def _delete(self, mirror_id: int) -> None:
        """Deletes the destination topic when asked to, then the row."""
        try:
            with self.factory() as session:
                mirror = session.get(MirrorTopic, mirror_id)
                if mirror is None:
                    return
                link = mirror.link
                task = f"mirrorTopics/{mirror.name}"
                name, link_id, drop_topic = mirror.name, link.id, mirror.delete_destination_topic
                conn = Connection.from_store(link.destination, self.box.open(link.destination_secrets)) \
                    if drop_topic else None
            if conn is not None:
                try:
                    kadmin.delete_topic(AdminClient(admin_config(conn, 10000)), name, 10.0)
                except KafkaException as exc:
                    progress.set_task(self.factory, link_id, task, "ERROR", f"cannot delete destination topic: {exc}")
                    return
            if progress.delete_mirror_row(self.factory, mirror_id):
                progress.remove_task(self.factory, link_id, task)
                log.info("deleted mirror topic %s", name)
        except Exception:  # noqa: BLE001 - retried by the next pass
            log.exception("deleting mirror topic %s failed; retrying", mirror_id)
        finally:
            self.wake()

    def shutdown(self, timeout: float = 30.0) -> None:
        for runtime in self.runtimes.values():
            runtime.stop()
        for runtime in self.runtimes.values():
            runtime.scheduler.join(timeout)
            if runtime.copier is not None:
                runtime.copier.join(timeout)
            runtime.ownership.join(timeout)  # left its groups: the other replicas take over at once
        self.runtimes.clear()
