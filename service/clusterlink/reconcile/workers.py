"""The mirror-topic reconciler: makes the running workers match the store.

Level-triggered like a Kubernetes controller: every pass reads the whole
desired state and converges, so missing a wake-up or running a pass twice
is harmless. It starts a worker for every mirror that should mirror, stops
the others, restarts a worker whose link settings changed (only after the
old one has exited: one writer per destination partition), and finishes
deletions.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from clusterlink.config.link_config import effective
from clusterlink.engine import progress
from clusterlink.engine.worker import WorkerSpec, run_worker
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka.clients import Connection, admin_config
from clusterlink.metrics.exporter import Metrics
from clusterlink.store import lifecycle
from clusterlink.store.db import transaction
from clusterlink.store.models import Link, MirrorTopic
from clusterlink.store.secrets import SecretBox

log = logging.getLogger(__name__)


@dataclass
class RunningWorker:
    spec: WorkerSpec
    thread: threading.Thread
    stop: threading.Event


def build_spec(link: Link, mirror: MirrorTopic, box: SecretBox) -> WorkerSpec:
    return WorkerSpec(
        link_id=link.id,
        link_name=link.name,
        link_version=link.version,
        mirror_id=mirror.id,
        topic=mirror.name,
        source_topic=mirror.source_topic,
        source=Connection.from_store(link.source, box.open(link.source_secrets)),
        destination=Connection.from_store(link.destination, box.open(link.destination_secrets)),
        config=effective(link.config),
    )


class Reconciler:
    def __init__(self, factory: progress.Factory, box: SecretBox, metrics: Metrics, interval: float = 1.0):
        self.factory = factory
        self.box = box
        self.metrics = metrics
        self.interval = interval
        self.workers: dict[int, RunningWorker] = {}
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                self.reconcile_once()
            except Exception:  # noqa: BLE001 - the loop must outlive a bad pass
                log.exception("reconcile pass failed; retrying")
            self._wake.wait(self.interval)
        self.shutdown()

    def reconcile_once(self) -> None:
        with self.factory() as session:
            mirrors = session.scalars(select(MirrorTopic).options(selectinload(MirrorTopic.link))).all()
        seen = set()
        for mirror in mirrors:
            seen.add(mirror.id)
            worker = self._alive(mirror.id)
            if mirror.state == lifecycle.DELETING:
                self._finish_delete(mirror, worker)
                continue
            wanted = mirror.state in lifecycle.RUNNING_STATES and not mirror.link.paused
            if worker is None:
                if wanted:
                    self._start(mirror)
            elif not wanted or worker.spec.link_version != mirror.link.version:
                worker.stop.set()
        for mirror_id in list(self.workers):
            if mirror_id not in seen and self._alive(mirror_id) is not None:
                self.workers[mirror_id].stop.set()

    def _alive(self, mirror_id: int) -> RunningWorker | None:
        worker = self.workers.get(mirror_id)
        if worker is not None and not worker.thread.is_alive():
            del self.workers[mirror_id]
            return None
        return worker

    def _start(self, mirror: MirrorTopic) -> None:
        spec = build_spec(mirror.link, mirror, self.box)
        stop = threading.Event()
        thread = threading.Thread(
            target=run_worker,
            args=(spec, self.factory, self.metrics, stop),
            name=f"mirror-{spec.link_name}-{spec.topic}",
            daemon=True,
        )
        self.workers[mirror.id] = RunningWorker(spec, thread, stop)
        thread.start()
        log.info("started worker for %s/%s", spec.link_name, spec.topic)

    def _finish_delete(self, mirror: MirrorTopic, worker: RunningWorker | None) -> None:
        if worker is not None:
            worker.stop.set()
            return  # the row goes once the worker has exited
        link = mirror.link
        task = f"mirrorTopics/{mirror.name}"
        if mirror.delete_destination_topic:
            conn = Connection.from_store(link.destination, self.box.open(link.destination_secrets))
            try:
                kadmin.delete_topic(AdminClient(admin_config(conn, 10000)), mirror.name, 10.0)
            except KafkaException as exc:
                progress.set_task(
                    self.factory, link.id, task, "ERROR", f"cannot delete destination topic: {exc}"
                )
                return
        with transaction(self.factory) as session:
            session.execute(
                delete(MirrorTopic).where(MirrorTopic.id == mirror.id, MirrorTopic.state == lifecycle.DELETING)
            )
        progress.remove_task(self.factory, link.id, task)
        log.info("deleted mirror topic %s/%s", link.name, mirror.name)

    def shutdown(self, timeout: float = 30.0) -> None:
        for worker in self.workers.values():
            worker.stop.set()
        for worker in self.workers.values():
            worker.thread.join(timeout)
        self.workers.clear()
