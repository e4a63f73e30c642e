"""LinkRuntime: every mirror partition of one link, in two threads.

- The data path (datapath.copier) copies raw batches for all partitions.
- The scheduler runs the control steps as scheduled steps, not threads:
  getting the link's producer id, preparing each mirror, resyncing
  partitions that stopped, watching the source topics (deleted topics,
  added partitions), and writing the status of the whole link once per
  interval in one transaction (which also moves lifecycle states:
  SOURCE_UNAVAILABLE, PROMOTED, FAILED).

A step that raises is classified by the scheduler's one error table; the
runtime turns the outcome into a mirror state and a task state here, in
`_on_error`. One mirror that fails never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field

import kafka.errors as kerrors
from confluent_kafka import KafkaError, KafkaException

from clusterlink.config import filters as name_filters
from clusterlink.config import topic_configs
from clusterlink.engine import mirror as mirror_steps
from clusterlink.engine.datapath.copier import Copier, CopierSettings, Route, SegmentBatch
from clusterlink.engine.datapath.partition import Phase
from clusterlink.engine.prepare import (
    DestinationError,
    DestinationTopicNotServedError,
    DivergenceError,
    FatalMirrorError,
    SourceTopicMissingError,
    SourceUnavailableError,
    deleted_outside,
    recreated_outside,
)
from clusterlink.engine import restore
from clusterlink.engine.errors import OWNERSHIP_LOST, SOURCE_UNAVAILABLE, Outcome, classify, for_mirror_state
from clusterlink.engine.scheduler import Scheduler
from clusterlink.engine.tasks import acl_sync, config_sync, group_offsets, new_topics
from clusterlink.engine.tasks.errors import ADMIN_ERRORS, error_code
from clusterlink.kafka import admin as kadmin
from clusterlink.kafka import wire
from clusterlink.kafka.groups import GroupOffsetReader
from clusterlink.kafka.clients import Connection
from clusterlink.metrics.exporter import Metrics, forget_link_tasks
from clusterlink.replicas.ownership import EVERYTHING, Everything, Owned, Ownership
from clusterlink.store import lifecycle, progress

log = logging.getLogger(__name__)

# How often the source's topic metadata is read (deleted topics, added partitions):
# one Metadata request for every topic of the source cluster.
TOPOLOGY_INTERVAL = 10.0
# Seconds before a failed sync task run is tried again (at most its interval).
SYNC_RETRY = 5.0
# Every mirror's status_time is set at least this often, also when nothing moved.
STATUS_REFRESH = 30.0
# Every partition row is rewritten at least this often, also when it did not move:
# a row another replica wrote last during a hand-over shows this replica again.
STATUS_REWRITE = 300.0
_STALE_EPOCH = frozenset({KafkaError.FENCED_LEADER_EPOCH, KafkaError.UNKNOWN_LEADER_EPOCH})
# A librdkafka admin client that lived through a frozen broker can stay without a
# usable connection after the broker is back ("Failed to get metadata: Broker
# transport failure" for minutes, while a new client connects at once). Admin
# clients that fail so are replaced, at most this often (a broker that is really
# down would otherwise get new clients at every retry).
TRANSPORT_RENEW_INTERVAL = 15.0
# A stale leader epoch renews them at once, but at most this often: a step that
# tries the new clients at once cannot spin on an epoch that stays stale.
STALE_EPOCH_RENEW_INTERVAL = 1.0
# A step with nothing to do sleeps this long unless woken (a timer, not a poll).
IDLE = 3600.0
# Mirror states in which a replica copies a mirror that the control replica prepared.
_ADOPTABLE = frozenset({lifecycle.ACTIVE, lifecycle.SOURCE_UNAVAILABLE, lifecycle.PROMOTING})
# Each link task and the link config key that turns it on.
_TASK_SWITCHES = {
    group_offsets.TASK_NAME: "consumer.offset.sync.enable",
    new_topics.TASK_NAME: "auto.create.mirror.topics.enable",
    config_sync.TASK_NAME: "topic.config.sync.enable",
    acl_sync.TASK_NAME: "acl.sync.enable",
}
# How the reasons of a mirror whose source fails begin: the refused login, or no answer.
_SOURCE_REASON_KINDS = ("cannot log in", "cannot reach")
# A membership problem shown on the link is written again after this long at most.
PROBLEM_REFRESH = 30.0
# Steps only the replica that runs the link's control work schedules.
_CONTROL_STEPS = frozenset({"prepare", "topology", group_offsets.TASK_NAME, new_topics.TASK_NAME,
                            config_sync.TASK_NAME, acl_sync.TASK_NAME})


@dataclass(frozen=True)
class LinkSpec:
    """Everything a runtime needs, snapshotted from the store at start."""

    link_id: int
    name: str
    version: int
    source: Connection = field(repr=False)
    destination: Connection = field(repr=False)
    config: dict[str, str] = field(default_factory=dict)

    def knob(self, key: str) -> int:
        return int(self.config[key])


def copier_settings(spec: LinkSpec) -> CopierSettings:
    return CopierSettings(
        fetch_max_bytes=spec.knob("mirror.fetch.max.bytes"),
        partition_max_bytes=spec.knob("mirror.fetch.partition.max.bytes"),
        fetch_max_wait_ms=spec.knob("mirror.fetch.max.wait.ms"),
        buffer_bytes=spec.knob("mirror.buffer.max.kbytes") * 1024,
        max_in_flight=spec.knob("mirror.produce.max.in.flight"),
        produce_connections=spec.knob("mirror.produce.connections"),
        produce_request_max_bytes=spec.knob("mirror.produce.request.max.bytes"),
        request_timeout_ms=spec.knob("destination.request.timeout.ms"),
        source_timeout_ms=spec.knob("source.request.timeout.ms"),
    )


def stuck_admin_error(exc: BaseException, since_renewed: float, login_refused: bool = False) -> KafkaError | None:
    """The librdkafka error in `exc`'s chain that only new admin clients get past, or None:
    a stale leader epoch at once (once the clients are STALE_EPOCH_RENEW_INTERVAL old),
    a transport failure once TRANSPORT_RENEW_INTERVAL seconds have passed since the
    clients were last renewed. A transport failure behind which a cluster refused the
    login is not one: new clients would be refused too, and would forget the refusal
    that the mirrors' reasons show."""
    cause: BaseException | None = exc
    while cause is not None:
        error = cause.args[0] if isinstance(cause, KafkaException) and cause.args else None
        if isinstance(error, KafkaError):
            if error.code() in _STALE_EPOCH:
                return error if since_renewed >= STALE_EPOCH_RENEW_INTERVAL else None
            if error.code() == KafkaError._TRANSPORT and since_renewed >= TRANSPORT_RENEW_INTERVAL \
                    and not login_refused:
                return error
        cause = cause.__cause__ or cause.__context__
    return None


def reason_kind(reason: str) -> str:
    """What a mirror waiting for its source says first ("cannot log in", "cannot reach"),
    or the whole reason: a reason is rewritten only when its kind changes."""
    return next((kind for kind in _SOURCE_REASON_KINDS if reason.startswith(kind)), reason)


def not_wanted(orders: progress.MirrorOrders | None) -> bool:
    """A mirror no replica should copy any more (its task may show STOPPED): with
    several replicas, one replica's runtime stopping says nothing of the others'."""
    return orders is not None and (orders.state not in lifecycle.RUNNING_STATES or orders.link_paused)


class LinkRuntime:
    def __init__(self, spec: LinkSpec, factory: progress.Factory, metrics: Metrics,
                 ownership: Ownership | None = None, replica_id: str = ""):
        self.spec = spec
        self.factory = factory
        self.metrics = metrics
        # Which partitions and which control work are this replica's (replicas.ownership).
        self.ownership: Ownership = ownership or Everything()
        self.replica_id = replica_id
        self._owned: Owned = Owned(frozenset(), control=False)
        self._control = False
        self._shown_problem = ("", "", 0.0)
        self._admins_renewed = time.monotonic()  # when the admin clients were made
        self.timeout = spec.knob("source.request.timeout.ms") / 1000
        self.mirrors: dict[int, mirror_steps.MirrorSpec] = {}   # wanted by the reconciler
        self._lock = threading.Lock()
        self.copier: Copier | None = None
        self.clusters: mirror_steps.Clusters | None = None
        self.scheduler = Scheduler(f"link-{spec.name}", classify, self._on_error)
        self._stopping = False
        self._winding_down: dict[int, mirror_steps.MirrorSpec] = {}
        self._to_prepare: dict[int, mirror_steps.MirrorSpec] = {}
        # What the status step last wrote per mirror, and when it last touched and wrote all.
        self._written: dict[int, tuple[tuple[int, ...], ...]] = {}
        self._written_version = -1  # the data path's version the last status step saw
        self._last_refresh = 0.0
        self._last_rewrite = 0.0
        self._group_sync: group_offsets.GroupOffsetSync | None = None
        self.config_keys = topic_configs.synced_keys(
            topic_configs.parse_keys(spec.config.get("topic.config.sync.include", "")),
            topic_configs.parse_keys(spec.config.get("topic.config.sync.exclude", "")))
        # The mirrors whose destination topic the topology step's last look did not find.
        self._dst_missing: set[int] = set()
        # mirror id -> (records, bytes, fenced writes) counter increments
        self._counters: dict[int, tuple[Callable[[float], None], ...]] = {}

    # -- the reconciler's side ---------------------------------------------------

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def stopping(self) -> bool:
        return self._stopping

    def share(self) -> dict[str, object]:
        """This replica's share of the link: the partitions it copies, whether it runs the control work."""
        copier = self.copier
        count = sum(len(r.partitions) for r in copier.routes().values()) if copier is not None else 0
        return {"partitions": count, "control": self._control}

    def mirror_ids(self) -> frozenset[int]:
        """Mirrors this runtime runs, including removed ones whose writes may still land."""
        with self._lock:
            return frozenset(self.mirrors) | frozenset(self._winding_down)

    def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add("start", self._start_step)

    def stop(self) -> None:
        """Returns at once; `finished` tells when both threads are gone."""
        self._stopping = True
        self.scheduler.stop()
        self.ownership.close()
        if self.copier is not None:
            self.copier.stop()
        if self._group_sync is not None:
            self._group_sync.src_groups.close()  # its network thread

    @property
    def finished(self) -> bool:
        copier_done = self.copier is None or not self.copier.alive
        return self._stopping and self.scheduler.stopped and copier_done and self.ownership.join(0)

    def add_mirror(self, spec: mirror_steps.MirrorSpec) -> None:
        with self._lock:
            self.mirrors[spec.mirror_id] = spec
            self.ownership.subscribe(m.source_topic for m in self.mirrors.values())
        records = self.metrics.records.labels(self.spec.name, spec.topic)
        size = self.metrics.bytes.labels(self.spec.name, spec.topic)
        fenced = self.metrics.fenced.labels(self.spec.name, spec.topic)
        self._counters[spec.mirror_id] = (records.inc, size.inc, fenced.inc)
        if self.copier is not None:
            self._enqueue_prepare(spec)  # only on the replica that runs the control work

    def remove_mirror(self, mirror_id: int) -> None:
        """Stops a mirror; its task shows STOPPED once none of its writes can land any more."""
        with self._lock:
            m = self.mirrors.pop(mirror_id, None)
            self._to_prepare.pop(mirror_id, None)
            if m is not None:
                self._winding_down[mirror_id] = m
            self.ownership.subscribe(m.source_topic for m in self.mirrors.values())
            # Sent under the lock that adding a route takes too, so the data path
            # gets add and remove in the order they were decided.
            if m is not None and self.copier is not None:
                self.copier.remove(mirror_id, lambda route: self._stopped(mirror_id, route))
        self.scheduler.remove(self._prepare_name(mirror_id))
        if m is not None and self.copier is None:
            self._stopped(mirror_id, None)

    def _stopped(self, mirror_id: int, route: Route | None) -> None:
        """Called once a removed mirror's writes have settled: final status, task STOPPED."""
        def step() -> None:
            with self._lock:
                m = self._winding_down.get(mirror_id)
            if m is None:
                return
            if route is not None:
                progress.write_link_status(self.factory, self.spec.link_id, [self._status_of(route)],
                                           self.replica_id or None)
            if mirror_id not in self.mirrors and not_wanted(progress.read_orders(self.factory, mirror_id)):
                progress.set_task(self.factory, self.spec.link_id, m.task_name, "STOPPED")
            with self._lock:
                self._winding_down.pop(mirror_id, None)
        self.scheduler.add(f"stopped/{mirror_id}", step)

    def stopped_mirrors(self) -> list[mirror_steps.MirrorSpec]:
        """After the runtime finished: the mirrors it ran, whose tasks are now STOPPED."""
        with self._lock:
            return list(self.mirrors.values()) + list(self._winding_down.values())

    @staticmethod
    def _prepare_name(mirror_id: int) -> str:
        return f"prepare/{mirror_id}"

    # -- steps -------------------------------------------------------------------

    def _start_step(self) -> float | None:
        """Admin clients and the data path: once per runtime."""
        spec = self.spec
        self.clusters = mirror_steps.Clusters.connect(spec.source, spec.destination, self.timeout)
        copier = Copier(spec.name, spec.source, spec.destination, copier_settings(spec),
                        self._store_segments, self._on_resync, self._on_acked, self._on_fenced,
                        self.ownership.may_write, self._on_metadata)
        if self._stopping:
            return None
        copier.start()
        self.copier = copier
        self.scheduler.add("ownership", self._ownership_step)
        self.ownership.start(lambda: self.scheduler.wake("ownership"))
        self.scheduler.add("cluster-ids", self._cluster_ids_step)
        self.scheduler.add("status", self._status_step, spec.knob("mirror.status.interval.ms") / 1000)
        self.scheduler.add("resync", self._resync_step, 1.0)
        return None

    # -- ownership ------------------------------------------------------------------

    def _ownership_step(self) -> float | None:
        """Acts on this replica's share of the link: the partitions it copies, and the control work."""
        assert self.copier is not None
        owned = self.ownership.owned()
        if owned.control and not self._control:
            self._become_control()
        elif not owned.control and self._control:
            self._lose_control()
        self._owned = owned
        if owned.problem and not owned.control and not owned.partitions:
            self._show_problem(owned)
        elif not owned.problem:
            self._shown_problem = ("", "", 0.0)  # a problem that comes back is shown at once
        for mirror_id, route in self.copier.routes().items():
            want = owned.of_topic(route.source_topic, route.partition_count)
            if want == set(route.partitions):
                continue
            if self._control and max(want, default=-1) >= route.partition_count:
                self.scheduler.wake("topology")  # the group saw the source grow first
            # The whole wanted set, not a difference: the data path applies it in order.
            reencoded = progress.load_reencoded(self.factory, mirror_id) if want - set(route.partitions) else {}
            self._written.pop(mirror_id, None)  # its rows name the replica that wrote them last
            self.copier.own(mirror_id, frozenset(want), route.partition_count, reencoded)
        return 5.0

    def _show_problem(self, owned: Owned) -> None:
        """This replica cannot take part in the link's group: its mirrors and tasks say why."""
        now = time.monotonic()
        # The same kind of problem is written again only after PROBLEM_REFRESH: librdkafka's
        # text for an unreachable cluster changes with every try ("after 0ms", "after 1ms",
        # "1/1 brokers are down"), and each showing is a few transactions per mirror.
        if owned.problem_code == self._shown_problem[1] and now - self._shown_problem[2] < PROBLEM_REFRESH:
            return
        self._shown_problem = (owned.problem, owned.problem_code, now)
        if owned.problem_code == "SOURCE_UNAVAILABLE" and (login := self._failed_login("source")):
            # The admin clients saw the refused login behind the group's transport errors.
            owned = Owned(owned.partitions, owned.control, login, "AUTHENTICATION_ERROR")
        log.warning("link %s: %s", self.spec.name, owned.problem)
        for name in self._enabled_tasks():
            progress.record_sync_task(self.factory, self.spec.link_id, name, state="IN_ERROR",
                                      error_code=owned.problem_code, error=owned.problem, replica_id=self.replica_id)
        # As when the source refuses the link's other calls: the mirrors wait, and say why.
        progress.mark_source_unavailable(self.factory, self.spec.link_id,
                                         {m.mirror_id: m.task_name for m in list(self.mirrors.values())},
                                         owned.problem, reason_kind(owned.problem))

    def _become_control(self) -> None:
        """This replica now runs the link's once-per-link work."""
        assert self.copier is not None
        with self._lock:
            self._control = True
        try:
            routed = set(self.copier.routes())
            with self._lock:
                waiting = [m for mid, m in self.mirrors.items() if mid not in routed]
            for m in waiting:
                self._enqueue_prepare(m)
            self.scheduler.add("topology", self._topology_step)
            self._start_tasks()
        except Exception:
            with self._lock:
                self._control = False  # the next ownership step tries it all again
            raise
        log.info("link %s: replica %s runs the link's control work", self.spec.name, self.replica_id or "(only)")

    def _lose_control(self) -> None:
        log.info("link %s: replica %s no longer runs the link's control work", self.spec.name, self.replica_id)
        with self._lock:
            self._control = False
            self._to_prepare.clear()
        for name in self.scheduler.names():
            if name in _CONTROL_STEPS or name.startswith(("restore/", "prepare/")):
                self.scheduler.remove(name)
        if self._group_sync is not None:
            self._group_sync.src_groups.close()
            self._group_sync = None
        forget_link_tasks(self.metrics, self.spec.name)

    def _in_control(self) -> bool:
        """Control work runs only on the replica that holds it now, and only once that is proven
        (a process that just woke from a freeze may have lost it)."""
        return self._control and self.ownership.may_write()

    def _adopt(self, mirrors: list[mirror_steps.MirrorSpec]) -> None:
        """Starts mirrors that the control replica prepared: this replica's partitions resync
        from the destination's end offsets (and get the resume check on the way)."""
        assert self.clusters is not None and self.copier is not None
        try:
            meta = self.clusters.dst_admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            log.info("link %s: cannot read the destination's topics yet: %s", self.spec.name, exc)
            return
        producer_ids = progress.mirror_producer_ids(self.factory, [m.mirror_id for m in mirrors])
        for m in mirrors:
            info = meta.topics.get(m.topic)
            producer_id = producer_ids.get(m.mirror_id)
            if info is None or info.error is not None or not info.partitions or producer_id is None:
                continue  # the control replica prepares it
            count = len(info.partitions)
            with self._lock:
                if m.mirror_id not in self.mirrors:
                    continue  # removed meanwhile
                self.copier.add(Route(m.mirror_id, m.source_topic, m.topic, {}, producer_id, count))
            log.info("mirror %s/%s: copying this replica's share of %d partitions", self.spec.name, m.topic, count)
        self.scheduler.add("ownership", self._ownership_step, 0.2)  # once the data path has the routes

    def _cluster_ids_step(self) -> float | None:
        """Records both clusters' ids once: how two-way pairs of links find each other."""
        assert self.clusters is not None
        # From a Metadata request, not DescribeCluster: librdkafka 2.16 aborts the whole
        # process (assertion `rko_result`) when a DescribeCluster answer lists no brokers,
        # as a broker that is still starting answers.
        try:
            ids = [admin.list_topics(timeout=self.timeout).cluster_id
                   for admin in (self.clusters.src_admin, self.clusters.dst_admin)]
        except ADMIN_ERRORS:
            return SYNC_RETRY
        if not all(ids):
            return SYNC_RETRY
        progress.set_cluster_ids(self.factory, self.spec.link_id, source=ids[0], destination=ids[1])
        return None

    def _start_tasks(self) -> None:
        """Schedules the link's sync tasks that are turned on; the others show NOT_CONFIGURED."""
        assert self.clusters is not None
        config = self.spec.config
        c = self.clusters
        if self._group_sync is not None:
            self._group_sync.src_groups.close()  # started before, on older clients
            self._group_sync = None
        if config.get(_TASK_SWITCHES[group_offsets.TASK_NAME]) == "true":
            self._group_sync = group_offsets.GroupOffsetSync(
                c.src_admin, GroupOffsetReader(self.spec.source, self.timeout), c.dst_admin,
                name_filters.parse(config["consumer.offset.group.filters"], "groupFilters"),
                config.get("consumer.group.prefix", ""), self.timeout)
        enabled = self._enabled_tasks()
        tasks: dict[str, tuple[str, Callable[[], str]] | None] = {
            group_offsets.TASK_NAME: ("consumer.offset.sync.ms", self._sync_all_groups)
            if self._group_sync is not None else None,
            new_topics.TASK_NAME: ("auto.create.mirror.topics.ms", self._new_topics_task())
            if new_topics.TASK_NAME in enabled else None,
            config_sync.TASK_NAME: ("topic.config.sync.ms", self._config_sync_task())
            if config_sync.TASK_NAME in enabled else None,
            acl_sync.TASK_NAME: ("acl.sync.ms", self._acl_sync_task())
            if acl_sync.TASK_NAME in enabled else None,
        }
        for name, task in tasks.items():
            if task is None:
                progress.record_sync_task(self.factory, self.spec.link_id, name, state="NOT_CONFIGURED", message="")
            else:
                self.scheduler.add(name, self._task_step(name, *task))

    def _enabled_tasks(self) -> list[str]:
        return [name for name, switch in _TASK_SWITCHES.items() if self.spec.config.get(switch) == "true"]

    def _task_step(self, name: str, interval_key: str, run: Callable[[], str]) -> Callable[[], float | None]:
        def step() -> float | None:
            interval = self.spec.knob(interval_key) / 1000
            if not self._in_control():
                return interval
            # A failed run is tried again soon, not a whole (maybe long) interval later.
            return interval if self._run_task(name, run) else min(interval, SYNC_RETRY)
        return step

    def _run_task(self, name: str, run: Callable[[], str], record_success: bool = True) -> bool:
        """One run of a sync task; its outcome is the task's status. True when it succeeded."""
        try:
            message = run()
        except Exception as exc:  # noqa: BLE001 - every failure becomes the task's status
            code, text = error_code(exc), str(exc)
            side = {"SOURCE_UNAVAILABLE": "source", "DESTINATION_UNAVAILABLE": "destination"}.get(code)
            login = self._failed_login(side) if side else None
            if login:
                code, text = "AUTHENTICATION_ERROR", login
            log.warning("link %s: %s failed: %s", self.spec.name, name, text)
            self.metrics.task_runs.labels(self.spec.name, name, "error").inc()
            progress.record_sync_task(self.factory, self.spec.link_id, name,
                                      state="IN_ERROR", error_code=code, error=text, replica_id=self.replica_id)
            return False
        self.metrics.task_runs.labels(self.spec.name, name, "ok").inc()
        if record_success:
            progress.record_sync_task(self.factory, self.spec.link_id, name, state="ACTIVE", message=message,
                                      replica_id=self.replica_id)
        return True

    def _failed_login(self, side: str) -> str | None:
        """Why the link cannot log in to that cluster ("cannot log in ..."), or None."""
        if self.clusters is None:
            return None
        admin = self.clusters.src_admin if side == "source" else self.clusters.dst_admin
        err = admin.failed_login()
        if err is None:
            return None
        conn = self.spec.source if side == "source" else self.spec.destination
        return f"cannot log in to the {side} cluster at {conn.bootstrap_servers}: {err.str()}"

    def _sync_all_groups(self) -> str:
        assert self._group_sync is not None
        report = self._group_sync.run(self._mirrored_view)
        self.metrics.synced_groups.labels(self.spec.name).set(report.groups)
        return report.message()

    def _sync_groups(self, only_topics: frozenset[str]) -> bool:
        """The group offset sync of some topics (promote): a failure shows on the task."""
        assert self._group_sync is not None
        sync = self._group_sync
        return self._run_task(group_offsets.TASK_NAME,
                              lambda: sync.run(self._mirrored_view, only_topics).message(), record_success=False)

    def _new_topics_task(self) -> Callable[[], str]:
        assert self.clusters is not None
        link_id = self.spec.link_id

        def existing(cluster_id: str) -> new_topics.Existing:
            return new_topics.Existing(*progress.link_topic_names(self.factory, link_id, cluster_id))

        task = new_topics.NewTopics(
            self.clusters.src_admin,
            name_filters.parse(self.spec.config["auto.create.mirror.topics.filters"], "topicFilters"),
            self.spec.config.get("mirror.topic.prefix", ""), self.timeout, existing,
            lambda pairs: progress.create_mirror_rows(self.factory, link_id, pairs))
        return lambda: task.run().message()

    def _config_sync_task(self) -> Callable[[], str]:
        assert self.clusters is not None
        sync = config_sync.ConfigSync(self.spec.source, self.spec.destination, self.clusters.dst_admin,
                                      self.config_keys, self.timeout)
        return lambda: sync.run(self._mirrored_topics).message()

    def _mirrored_topics(self) -> dict[str, str]:
        """Source topic -> mirror topic, for mirrors that are mirroring."""
        assert self.copier is not None
        return {r.source_topic: r.topic for r in self.copier.routes().values() if r.mirror_id in self.mirrors}

    def _acl_sync_task(self) -> Callable[[], str]:
        assert self.clusters is not None
        link_id, factory = self.spec.link_id, self.factory
        sync = acl_sync.AclSync(
            self.clusters.src_admin, self.clusters.dst_admin,
            name_filters.parse_acl_filters(self.spec.config["acl.filters"]),
            self.spec.config.get("mirror.topic.prefix", ""), self.timeout,
            managed=lambda: {acl_sync.Binding(*row) for row in progress.link_acls(factory, link_id)},
            record=lambda acls: progress.add_link_acls(factory, link_id, (astuple(b) for b in acls)),
            forget=lambda acls: progress.remove_link_acls(factory, link_id, (astuple(b) for b in acls)))

        def run() -> str:
            report = sync.run()
            self.metrics.managed_acls.labels(self.spec.name).set(report.managed)
            return report.message()
        return run

    def _mirrored_view(self) -> dict[str, group_offsets.MirroredTopic]:
        """Source topic -> what its mirror holds, for mirrors that are mirroring."""
        assert self.copier is not None
        if not self._owned.everything:
            return self._stored_view()
        view: dict[str, group_offsets.MirroredTopic] = {}
        for route in self.copier.routes().values():
            if route.mirror_id not in self.mirrors:
                continue
            view[route.source_topic] = group_offsets.MirroredTopic(route.topic, {
                p: group_offsets.MirroredPartition(st.mirrored_source_offset(), tuple(st.segments))
                for p, st in list(route.partitions.items())
            })
        return view

    def _stored_view(self) -> dict[str, group_offsets.MirroredTopic]:
        """The same when replicas share the link: this replica's own partitions as it holds
        them, the others' as their replicas last reported them. The store lags by a status
        interval at most, so a synced consumer offset is never past what the mirror holds."""
        assert self.copier is not None
        routes = {mid: r for mid, r in self.copier.routes().items() if mid in self.mirrors}
        segments = progress.load_link_segments(self.factory, list(routes))
        rows = progress.read_partition_rows(self.factory, list(routes))
        view: dict[str, group_offsets.MirroredTopic] = {}
        for mirror_id, route in routes.items():
            held = {p: st.mirrored_source_offset() for p, st in list(route.partitions.items()) if st.started}
            stored = {p: row.mirrored_source_offset for p, row in rows.get(mirror_id, {}).items()}
            view[route.source_topic] = group_offsets.MirroredTopic(route.topic, {
                p: group_offsets.MirroredPartition(offset, tuple(segments.get(mirror_id, {}).get(p, [])))
                for p, offset in {**stored, **held}.items()  # this replica's own partitions: fresher
            })
        return view

    def _prepare_step(self) -> float | None:
        """Prepares every mirror waiting for it, in one batch of admin calls."""
        assert self.clusters is not None and self.copier is not None
        if not self._in_control():
            return IDLE
        with self._lock:
            batch = [m for m in self._to_prepare.values() if m.mirror_id in self.mirrors]
            self._to_prepare.clear()
        if not batch:
            return IDLE
        try:
            producer_ids = self._producer_ids([m.mirror_id for m in batch])
            topic_ids = progress.destination_topic_ids(self.factory, [m.mirror_id for m in batch])
            results = mirror_steps.prepare_many(batch, self.clusters, self.factory, self.config_keys, topic_ids)
        except Exception:
            with self._lock:
                for m in batch:
                    self._to_prepare.setdefault(m.mirror_id, m)
            raise  # the scheduler backs off; _on_error shows it on these mirrors
        started: list[int] = []
        owned = self.ownership.owned()
        waiting: list[tuple[mirror_steps.MirrorSpec, DestinationTopicNotServedError]] = []
        for m in batch:
            result = results.get(m.mirror_id)
            if isinstance(result, DestinationTopicNotServedError):
                waiting.append((m, result))
            elif isinstance(result, Exception):
                self._prepare_failed(m, result)
            elif result is not None and m.mirror_id in producer_ids:
                reencoded = progress.load_reencoded(self.factory, m.mirror_id)
                mine = owned.of_topic(m.source_topic, len(result))
                states = {p: st for p, st in result.items() if p in mine}
                for p, st in states.items():
                    st.reencoded_batches = reencoded.get(p, 0)
                with self._lock:
                    if m.mirror_id not in self.mirrors:
                        continue  # removed meanwhile
                    self.copier.add(Route(m.mirror_id, m.source_topic, m.topic, states, producer_ids[m.mirror_id],
                                          len(result)))
                started.append(m.mirror_id)
        self._prepare_waits(waiting)
        if started:
            self.scheduler.add("ownership", self._ownership_step, 0.2)  # partitions assigned meanwhile
            # Those with a stored id had it checked by prepare_many just now.
            self._note_destination_topic_ids([self.mirrors[mid] for mid in started
                                              if mid in self.mirrors and mid not in topic_ids])
        progress.mark_mirroring(self.factory, self.spec.link_id,
                                {mid: self.mirrors[mid].task_name for mid in started if mid in self.mirrors})
        return 0.0 if self._to_prepare else IDLE

    def _producer_ids(self, mirror_ids: list[int]) -> dict[int, int]:
        """Each mirror's producer id, asking the destination for the ones not given yet."""
        known = progress.mirror_producer_ids(self.factory, mirror_ids)
        missing = [mid for mid, pid in known.items() if pid is None]
        if missing:
            try:
                fresh = wire.init_producer_ids(self.spec.destination, len(missing), self.timeout)
            except wire.ProducerIdError as exc:
                # A refused login only shows as a timeout there; the admin client saw it.
                raise DestinationError(self._failed_login("destination") or str(exc)) from exc
            known.update(progress.set_mirror_producer_ids_if_absent(self.factory, dict(zip(missing, fresh))))
        return {mid: pid for mid, pid in known.items() if pid is not None}

    def _prepare_waits(self, waiting: list[tuple[mirror_steps.MirrorSpec, DestinationTopicNotServedError]]) -> None:
        """Mirrors whose new destination topics the broker does not serve yet.

        A burst of new topics (hundreds at once) puts many mirrors here, round
        after round: their reasons are written in one transaction, where one
        each cost most of a round on SQLite. Each is prepared again shortly."""
        if not waiting:
            return
        outcome = classify(waiting[0][1])
        states = progress.read_link_orders(self.factory, self.spec.link_id) or {}
        progress.set_reasons(self.factory, {m.mirror_id: (states[m.mirror_id].state, outcome.reason_prefix + str(exc))
                                            for m, exc in waiting if m.mirror_id in states})
        for m, exc in waiting:
            log.debug("mirror %s/%s: prepare: %s", self.spec.name, m.topic, exc)
            self.scheduler.add(self._prepare_name(m.mirror_id), lambda m=m: self._enqueue_prepare(m), outcome.backoff)

    def _prepare_failed(self, m: mirror_steps.MirrorSpec, exc: Exception) -> None:
        if isinstance(exc, DivergenceError) and m.set_aside_topic \
                and progress.read_restore(self.factory, m.mirror_id)[0] != restore.DONE:
            # Asked for at creation, and done once: a destination written
            # outside the link again later fails the mirror like any other.
            self._start_restore(m, exc)
            return
        outcome = classify(exc)
        level = logging.ERROR if outcome.traceback else logging.INFO
        log.log(level, "mirror %s/%s: prepare: %s", self.spec.name, m.topic, exc, exc_info=outcome.traceback)
        terminal = self._apply(m, self._prepare_name(m.mirror_id), outcome, str(exc) or exc.__class__.__name__)
        if not terminal:
            # Try this one again later, on its own schedule.
            self.scheduler.add(self._prepare_name(m.mirror_id), lambda: self._enqueue_prepare(m),
                               outcome.backoff or 1.0)

    def _start_restore(self, m: mirror_steps.MirrorSpec, found: DivergenceError) -> None:
        assert self.clusters is not None
        log.info("mirror %s/%s: restoring: %s", self.spec.name, m.topic, found)
        r = restore.Restorer(self.spec.name, m.topic, m.set_aside_topic, self.spec.destination,
                             self.clusters.dst_admin, self.timeout, self.spec.knob("restore.transaction.records"))
        first: list[DivergenceError | None] = [found]

        def step() -> float | None:
            if m.mirror_id not in self.mirrors or not self._control:
                r.close()
                return None
            if not self.ownership.may_write():
                return 1.0
            try:
                again = restore.advance(r, self.factory, m.mirror_id, first[0])
            except FatalMirrorError as exc:
                r.close()
                self._fail(m, f"restore: {exc}")
                return None
            except (KafkaException, DestinationError, SourceUnavailableError) as exc:
                log.info("mirror %s/%s: restore waits: %s", self.spec.name, m.topic, exc)
                self._renew_admins_if_stuck(exc)
                progress.set_reason(self.factory, m.mirror_id, lifecycle.PENDING, f"restore waits: {exc}")
                r.close()  # the next try fences this one's transaction and re-reads the side topic
                return 5.0
            first[0] = None
            if again is None:
                self._enqueue_prepare(m)  # the topic is gone: prepared again, from the source
                return None
            state, parts = progress.read_restore(self.factory, m.mirror_id)
            progress.set_reason(self.factory, m.mirror_id, lifecycle.PENDING, restore.describe(state, parts,
                                                                                             m.set_aside_topic))
            return again
        self.scheduler.add(f"restore/{m.mirror_id}", step)

    def _enqueue_prepare(self, m: mirror_steps.MirrorSpec) -> None:
        with self._lock:
            if m.mirror_id not in self.mirrors or not self._control:
                return
            self._to_prepare[m.mirror_id] = m
        if "prepare" in self.scheduler.names():
            self.scheduler.wake("prepare")
        else:
            self.scheduler.add("prepare", self._prepare_step)

    def _resync_step(self) -> float | None:
        """Partitions that stopped start again from the destination's end offset."""
        assert self.clusters is not None and self.copier is not None
        again = 30.0
        for route in self.copier.routes().values():
            m = self.mirrors.get(route.mirror_id)
            if m is None:
                continue
            waiting = {p: st for p, st in route.partitions.items() if st.phase is Phase.RESYNC}
            if any(st.phase is Phase.SETTLING for st in route.partitions.values()):
                again = 0.2
            if not waiting:
                continue
            try:
                points = mirror_steps.resync_points(m, self.clusters, self.factory, waiting)
            except FatalMirrorError as exc:
                self._fail(m, str(exc))
                continue
            except (DestinationError, SourceUnavailableError, KafkaException) as exc:
                # A broker coming back: ask again soon, without the growing
                # backoff of a failing step, so the partition resumes as soon
                # as the cluster answers.
                log.info("mirror %s/%s: resync waits: %s", self.spec.name, m.topic, exc)
                # New admin clients get past a stale leader epoch: try them at once.
                again = min(again, 0.0 if self._renew_admins_if_stuck(exc) else 1.0)
                continue
            for p, (dst_end, segments) in points.items():
                self.copier.resume(m.mirror_id, p, dst_end, segments)
        return again

    def _topology_step(self) -> float | None:
        """Watches the source topics: a deleted one fails its mirror, a grown one is prepared again."""
        assert self.clusters is not None and self.copier is not None
        if not self._in_control():
            return TOPOLOGY_INTERVAL
        try:
            meta = self.clusters.src_admin.list_topics(timeout=self.timeout)
        except KafkaException:
            return TOPOLOGY_INTERVAL  # the status step reports an unreachable source
        routes = self.copier.routes()
        for mirror_id, route in list(routes.items()):
            m = self.mirrors.get(mirror_id)
            if m is None:
                continue
            info = meta.topics.get(route.source_topic)
            if info is None or info.error is not None:
                self._fail(m, str(SourceTopicMissingError(
                    f"source topic {route.source_topic!r} was deleted on the source cluster; the mirrored "
                    "records stay on the destination. Fail over or delete this mirror topic")))
                del routes[mirror_id]
                continue
            if len(info.partitions) > route.partition_count:
                log.info("mirror %s/%s: source topic grew from %d to %d partitions; adding them",
                         self.spec.name, m.topic, route.partition_count, len(info.partitions))
                self.copier.remove(mirror_id)
                self._enqueue_prepare(m)
        self._check_destination_topics(routes)
        return TOPOLOGY_INTERVAL

    def _note_destination_topic_ids(self, mirrors: list[mirror_steps.MirrorSpec]) -> None:
        """The topic ids of just prepared destination topics, known before their mirrors are
        ACTIVE: a topic created again under the same name later shows as a new id. The data
        path copies meanwhile. Unanswered, the topology step notes them at its next look."""
        assert self.clusters is not None
        try:
            ids = wire.topic_ids(self.spec.destination, {m.topic for m in mirrors}, self.timeout)
        except kerrors.KafkaError:
            return
        progress.note_destination_topic_ids(
            self.factory, {m.mirror_id: topic_id for m in mirrors if (topic_id := ids.get(m.topic)) is not None})

    def _check_destination_topics(self, routes: dict[int, Route]) -> None:
        """A destination topic deleted outside ClusterLink fails its mirror: its writes
        would wait for a topic that is gone, with the mirror ACTIVE and silent. So does
        one deleted and created again (a new topic id): its offsets are not the source's."""
        assert self.clusters is not None
        try:
            ids = wire.topic_ids(self.spec.destination, {r.topic for r in routes.values()}, self.timeout)
        except kerrors.KafkaError:
            return  # the destination's errors reach the status through the data path
        known = progress.destination_topic_ids(self.factory, list(routes))
        missing, self._dst_missing = self._dst_missing, set()
        noted: dict[int, str] = {}
        for mirror_id, route in routes.items():
            m = self.mirrors.get(mirror_id)
            topic_id = ids.get(route.topic)
            if m is None:
                continue
            if topic_id is None:
                # Asked twice, TOPOLOGY_INTERVAL apart: a broker's metadata may lag a creation.
                if mirror_id in missing:
                    self._fail(m, str(deleted_outside(route.topic)))
                else:
                    self._dst_missing.add(mirror_id)
            elif known.get(mirror_id, topic_id) != topic_id:
                self._fail(m, str(recreated_outside(route.topic)))
            elif mirror_id not in known:
                noted[mirror_id] = topic_id
        progress.note_destination_topic_ids(self.factory, noted)

    def _status_step(self) -> float | None:
        """Writes the status of every mirror of the link in one transaction, and moves states."""
        assert self.copier is not None
        interval = self.spec.knob("mirror.status.interval.ms") / 1000
        if not self.ownership.may_write():
            # Woken from a freeze: what this replica knows may be stale, and its
            # partitions may be another's now. It reports nothing until it knows.
            return interval
        orders = progress.read_link_orders(self.factory, self.spec.link_id)
        if orders is None:
            return interval
        if self.copier.error is not None:
            self.ownership.close()  # its partitions go to replicas that can copy them
            raise RuntimeError(f"the data path stopped: {self.copier.error}")
        now = time.monotonic()
        statuses: list[progress.MirrorStatus] = []
        unreachable: dict[int, str] = {}
        source_error = self.copier.source_error  # last whole-fetch failure, "" while the source answers
        signatures: dict[int, tuple[tuple[int, ...], ...]] = {}
        refresh_all = now - self._last_refresh >= STATUS_REFRESH
        rewrite_all = now - self._last_rewrite >= STATUS_REWRITE
        touched: list[int] = []  # mirrors whose status did not move: only their status_time is set
        version = self.copier.version  # read before the routes: a later change shows next time
        moved = refresh_all or version != self._written_version
        routes = self.copier.routes()
        if not self._control:
            # Mirrors the control replica prepared meanwhile: copy this replica's partitions.
            with self._lock:
                waiting = [m for mid, m in self.mirrors.items() if mid not in routes]
            ready = [m for m in waiting if (o := orders.get(m.mirror_id)) is not None and o.state in _ADOPTABLE]
            if ready:
                self._adopt(ready)
        for mirror_id, route in routes.items():
            m = self.mirrors.get(mirror_id)
            order = orders.get(mirror_id)
            if m is None or order is None:
                continue
            # Only mirrors whose partitions moved are looked at and written (a partition
            # that fails moves the data path too): an idle link costs next to nothing.
            status = None
            if moved:
                failed = [st.reason for st in route.partitions.values() if st.phase is Phase.FAILED]
                if failed:
                    self._fail(m, failed[0])
                    continue
                signature = self._signature(route)
                if rewrite_all or self._written.get(mirror_id) != signature:
                    status = self._status_of(route)
                    statuses.append(status)
                    signatures[mirror_id] = signature
                elif refresh_all:
                    touched.append(mirror_id)
            # Only a failing source, or a mirror waiting for it, needs the per-partition check.
            if route.partitions and (source_error or order.state == lifecycle.SOURCE_UNAVAILABLE):
                self._source_health(m, route, order.state, now, source_error, unreachable)
            if order.state == lifecycle.PROMOTING and self._control:
                if self._owned.everything:
                    self._try_promote(m, (status or self._status_of(route)).partitions, route, now)
                else:
                    self._try_promote_shared(m, route)
        progress.write_link_status(self.factory, self.spec.link_id, statuses, self.replica_id or None, touched)
        if unreachable:
            reason = self._failed_login("source") or \
                f"cannot reach the source cluster at {self.spec.source.bootstrap_servers}: {source_error}"
            progress.mark_source_unavailable(self.factory, self.spec.link_id, unreachable, reason, reason_kind(reason))
        self._written.update(signatures)
        self._written_version = version
        if refresh_all:
            self._last_refresh = now
        if rewrite_all:
            self._last_rewrite = now
        return interval

    @staticmethod
    def _signature(route: Route) -> tuple[tuple[int, ...], ...]:
        return tuple(
            (p, st.source_log_start, st.source_end, st.acked_dst, st.mirrored_source_offset(),
             len(st.segments), st.reencoded_batches)
            for p, st in sorted(route.partitions.items()) if st.started
        )

    @staticmethod
    def _status_of(route: Route) -> progress.MirrorStatus:
        return progress.MirrorStatus(route.mirror_id, [
            progress.PartitionProgress(
                partition=p,
                source_log_start_offset=st.source_log_start,
                source_end_offset=st.source_end,
                mirror_end_offset=st.acked_dst,
                mirrored_source_offset=st.mirrored_source_offset(),
                translated=bool(st.segments),
                reencoded_batches=st.reencoded_batches,
            )
            for p, st in sorted(route.partitions.items()) if st.started
        ])

    def _source_health(self, m: mirror_steps.MirrorSpec, route: Route, state: str, now: float,
                       error: str, unreachable: dict[int, str]) -> None:
        """A mirror whose partitions the source left unanswered, while the last fetch
        failed with `error`, goes into `unreachable` (mirror id -> task name, moved in
        one batch); one answered again is ACTIVE again."""
        fetched_at = self.copier.fetched_at
        stale = any(st.started and now - fetched_at(st) > self.timeout for st in route.partitions.values())
        if stale and error:
            if state in (lifecycle.PENDING, lifecycle.ACTIVE):
                unreachable[m.mirror_id] = m.task_name
        elif not stale and state == lifecycle.SOURCE_UNAVAILABLE:
            if progress.compare_and_set_state(self.factory, m.mirror_id, [lifecycle.SOURCE_UNAVAILABLE],
                                              lifecycle.ACTIVE):
                progress.set_task(self.factory, self.spec.link_id, m.task_name, "RUNNING")

    def _try_promote(self, m: mirror_steps.MirrorSpec, rows: list[progress.PartitionProgress],
                     route: Route, now: float) -> None:
        if any(now - self.copier.fetched_at(st) > self.timeout for st in route.partitions.values()):
            return  # lag is only known while the source answers
        behind = {r.partition: r.lag for r in rows if r.lag > 0}
        if behind:
            progress.set_reason(
                self.factory, m.mirror_id, lifecycle.PROMOTING,
                f"waiting for lag 0 before promoting: {sum(behind.values())} records behind on partitions "
                f"{sorted(behind)}")
            return
        self._promote(m)

    def _try_promote_shared(self, m: mirror_steps.MirrorSpec, route: Route) -> None:
        """Promotion when several replicas copy the mirror: every partition's owner reported lag 0,
        and neither cluster moved since it did (the reported end offsets are still the ends)."""
        assert self.clusters is not None
        rows = progress.read_partition_rows(self.factory, [m.mirror_id])[m.mirror_id]
        parts = list(range(max(route.partition_count, max(rows, default=-1) + 1)))
        behind = {p: rows[p].lag if p in rows else -1 for p in parts if p not in rows or rows[p].lag > 0}
        if not behind:
            try:
                src_end = kadmin.list_offsets(self.clusters.src_admin, m.source_topic, parts, "latest", self.timeout)
                dst_end = kadmin.list_offsets(self.clusters.dst_admin, m.topic, parts, "latest", self.timeout)
            except KafkaException:
                return  # lag is only known while both clusters answer
            behind = {p: -1 for p in parts
                      if rows[p].source_end_offset != src_end[p] or rows[p].mirror_end_offset != dst_end[p]}
        if behind:
            known = sum(n for n in behind.values() if n > 0)
            progress.set_reason(
                self.factory, m.mirror_id, lifecycle.PROMOTING,
                f"waiting for lag 0 before promoting: {known} records behind on partitions {sorted(behind)} "
                "(as reported by the replicas that copy them)")
            return
        self._promote(m)

    def _promote(self, m: mirror_steps.MirrorSpec) -> None:
        if self._group_sync is not None and not self._sync_groups(frozenset([m.source_topic])):
            progress.set_reason(self.factory, m.mirror_id, lifecycle.PROMOTING,
                                "waiting: the last consumer offset sync before promoting failed; see the link's tasks")
            return
        if progress.compare_and_set_state(self.factory, m.mirror_id, [lifecycle.PROMOTING], lifecycle.PROMOTED):
            self.remove_mirror(m.mirror_id)

    # -- data path callbacks (called on the data thread) ----------------------------

    def _store_segments(self, segments: SegmentBatch) -> None:
        progress.save_link_segments(self.factory, segments)

    def _on_resync(self, _mirror_id: int, _partition: int) -> None:
        self.scheduler.wake("resync")

    def _on_fenced(self, mirror_id: int) -> None:
        counters = self._counters.get(mirror_id)
        if counters is not None:
            counters[2](1)

    def _on_metadata(self, cluster: str) -> None:
        self.metrics.metadata.labels(self.spec.name, cluster).inc()

    def _on_acked(self, mirror_id: int, records: int, size: int) -> None:
        counters = self._counters.get(mirror_id)
        if counters is not None:
            counters[0](records)
            counters[1](size)

    # -- errors ------------------------------------------------------------------

    def _fail(self, m: mirror_steps.MirrorSpec, reason: str) -> None:
        log.error("mirror %s/%s failed: %s", self.spec.name, m.topic, reason)
        if self.copier is not None:
            self.copier.remove(m.mirror_id)
        progress.compare_and_set_state(self.factory, m.mirror_id, lifecycle.RUNNING_STATES, lifecycle.FAILED, reason)
        progress.set_task(self.factory, self.spec.link_id, m.task_name, "ERROR", reason)

    def _renew_admins_if_stuck(self, exc: BaseException) -> bool:
        """librdkafka's admin client can keep a leader epoch from before a broker
        restart and then get FENCED_LEADER_EPOCH on every call, or stay without a
        connection after a broker froze (see TRANSPORT_RENEW_INTERVAL): only fresh
        clients get past it. Refresh-and-retry errors must never become a lasting state.
        Says whether the clients were renewed."""
        now = time.monotonic()
        login_refused = bool(self._failed_login("source") or self._failed_login("destination"))
        error = stuck_admin_error(exc, now - self._admins_renewed, login_refused)
        if error is None or self.clusters is None:
            return False
        self._admins_renewed = now
        log.info("link %s: renewing admin clients after %s", self.spec.name, error.name())
        self.clusters = self.clusters.renewed()
        if self.copier is not None and self._control:
            # The link tasks hold admin clients too: they start again on the new ones.
            if self._group_sync is not None:
                self._group_sync.src_groups.close()
            self._start_tasks()
        return True

    def _on_error(self, name: str, exc: BaseException, outcome: Outcome) -> None:
        """Turns a failed step into states, reading them off the error table's row."""
        self._renew_admins_if_stuck(exc)
        if outcome.kind == OWNERSHIP_LOST:
            log.error("link %s: %s", self.spec.name, exc)
            return
        with self._lock:
            # The prepare batch failed as a whole: its mirrors show it. Any
            # other link-wide step (start, status, resync) shows on every mirror.
            targets = list(self._to_prepare.values()) if name == "prepare" else list(self.mirrors.values())
        for each in targets:
            self._apply(each, name, outcome, str(exc) or exc.__class__.__name__)

    def _apply(self, m: mirror_steps.MirrorSpec, step: str, outcome: Outcome, reason: str) -> bool:
        """Shows the error on the mirror and its task; True when the mirror failed for good."""
        orders = progress.read_orders(self.factory, m.mirror_id)
        row = for_mirror_state(outcome, orders.state if orders else None)
        if row.kind == SOURCE_UNAVAILABLE and not reason.startswith(_SOURCE_REASON_KINDS):
            reason = self._failed_login("source") or \
                f"cannot reach the source cluster at {self.spec.source.bootstrap_servers}: {reason}"
        # The task shows the error itself; the prefix ("waiting: ") is for the mirror.
        error, reason = reason, row.reason_prefix + reason
        if row.terminal:
            # The mirror's own step gives up: a person must act, and the reason says what.
            if step.startswith("prepare/"):
                self.scheduler.remove(step)
            self._fail(m, reason)
            return True
        if row.mirror_state is not None and orders is not None and orders.state == row.mirror_state:
            # Already there: the reason is renewed when it now says something else.
            progress.renew_reasons(self.factory, [m.mirror_id], row.mirror_state, reason, reason_kind(reason))
        elif row.mirror_state is not None:
            progress.compare_and_set_state(self.factory, m.mirror_id, row.mirror_from, row.mirror_state, reason)
        elif row.reason_prefix and orders is not None:
            progress.set_reason(self.factory, m.mirror_id, orders.state, reason)
        if row.task_state is not None:
            progress.set_task(self.factory, self.spec.link_id, m.task_name, row.task_state, error)
        return False
