"""The user-facing sandbox: a "source" and a "destination" single-node Kafka on this machine.

    <folder>/source/       a KRaft cluster (see cluster.py), clients on source_port
    <folder>/destination/  a KRaft cluster, clients on destination_port

`up` is idempotent: on a running sandbox it only reports it, on a stopped one (after a
reboot, or a crash) it restarts the brokers with their data on the ports they had.

`up(secure=True)` makes both clusters secured (security.py): SASL_SSL with
SCRAM-SHA-512 on the client port, a CA per cluster, the StandardAuthorizer, a super
user `admin` and a user `linker` holding only the ACLs a link needs (`link_acls`).
Whether a sandbox is secured is kept in each cluster's cluster.json, so a later `up`
keeps it as it is; changing it takes a `down` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from clusterlink.sandbox.cluster import (
    STATE_FILE,
    ClusterStatus,
    KafkaCluster,
    PortInUseError,
    cluster_status,
    load_cluster,
    port_is_free,
    resume_cluster,
    start_cluster,
    stop_cluster,
)
from clusterlink.sandbox.jars import SandboxError, ensure_jars, find_java
from clusterlink.sandbox.security import LINKER, link_acls

__all__ = [
    "DEFAULT_SOURCE_PORT",
    "DEFAULT_DESTINATION_PORT",
    "ROLES",
    "SandboxInfo",
    "SandboxStatus",
    "SandboxError",
    "default_folder",
    "grant_link_acls",
    "up",
    "status",
    "down",
]

DEFAULT_SOURCE_PORT = 19092
DEFAULT_DESTINATION_PORT = 29092
ROLES = ("source", "destination")
LOCK_FILE = ".sandbox.lock"


@dataclass(frozen=True)
class SandboxInfo:
    """What `up` found or started."""

    folder: Path
    source: KafkaCluster
    destination: KafkaCluster
    already_running: bool
    seconds: float

    def cluster(self, role: str) -> KafkaCluster:
        return self.source if role == "source" else self.destination

    @property
    def secure(self) -> bool:
        return self.source.secure


@dataclass(frozen=True)
class SandboxStatus:
    folder: Path
    source: ClusterStatus | None
    destination: ClusterStatus | None

    @property
    def running(self) -> bool:
        return all(s is not None and s.running for s in (self.source, self.destination))

    @property
    def exists(self) -> bool:
        return self.source is not None or self.destination is not None

    def cluster(self, role: str) -> ClusterStatus | None:
        return self.source if role == "source" else self.destination


def default_folder() -> Path:
    return Path(platformdirs.user_cache_dir("clusterlink")) / "sandbox"


def up(
    folder: Path | None = None,
    source_port: int | None = None,
    destination_port: int | None = None,
    secure: bool | None = None,
) -> SandboxInfo:
    """Start (or find running) both clusters; return once both accept requests.

    Ports default to what an existing sandbox in `folder` uses, else 19092 / 29092;
    each cluster's controller listens on the next port up. `secure` None keeps what
    an existing sandbox is (a new one is not secured); True or False must match an
    existing sandbox.
    """
    folder = (folder or default_folder()).absolute()
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _up_locked(folder, source_port, destination_port, secure, started)
    except SandboxError:
        _remove_if_empty(folder)  # a failed first `up` leaves no trace behind
        raise


def _up_locked(folder: Path, source_port: int | None, destination_port: int | None, secure: bool | None,
               started: float) -> SandboxInfo:
    with _locked(folder):
        find_java()  # the commonest problem, reported before anything else happens
        wanted = {"source": source_port, "destination": destination_port}
        current = _current_status(folder)
        existing = {r: load_cluster(folder / r) for r in ROLES if current[r] is not None}
        secure = _check_requested_security(folder, existing, secure)
        running = all(current[r] is not None and current[r].running for r in ROLES)
        if running:
            _check_requested_ports(existing, wanted)
            clusters = existing
        else:
            ensure_jars()  # once, before two threads would queue on its lock
            clusters = _bring_up_both(folder, wanted, current, secure)
        if secure:
            # On every `up`: one that died between starting the brokers and this
            # must not leave the linker without ACLs. Granting twice changes nothing.
            for role in ROLES:
                grant_link_acls(clusters[role], role)
    seconds = 0.0 if running else time.monotonic() - started
    return SandboxInfo(folder, clusters["source"], clusters["destination"], running, seconds)


def status(folder: Path | None = None) -> SandboxStatus:
    """Each cluster's status, or None for a cluster that is not there at all."""
    folder = (folder or default_folder()).absolute()
    current = _current_status(folder)
    return SandboxStatus(folder, current["source"], current["destination"])


def down(folder: Path | None = None) -> bool:
    """Stop both clusters and remove everything they wrote; False if there was nothing."""
    folder = (folder or default_folder()).absolute()
    if not folder.is_dir():
        return False
    found = False
    with _locked(folder):
        for role in ROLES:
            if (folder / role / STATE_FILE).exists():
                found = True
                stop_cluster(load_cluster(folder / role), remove=True)
    _remove_if_empty(folder)
    return found


def _remove_if_empty(folder: Path) -> None:
    """Remove the lock file and the folder when nothing else is left in it."""
    if any(p.name != LOCK_FILE for p in folder.iterdir()):
        return
    (folder / LOCK_FILE).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _current_status(folder: Path) -> dict[str, ClusterStatus | None]:
    return {
        role: cluster_status(folder / role) if (folder / role / STATE_FILE).exists() else None
        for role in ROLES
    }


def _check_requested_security(folder: Path, existing: dict[str, KafkaCluster], secure: bool | None) -> bool:
    """Whether the sandbox is (to be) secured; refuses a change of an existing sandbox."""
    have = {cluster.secure for cluster in existing.values()}
    if len(have) > 1:
        raise SandboxError(
            f"the sandbox in {folder} has one secured and one plain cluster; "
            "run `clusterlink sandbox down` and start it again"
        )
    if not have:
        return bool(secure)
    is_secure = have.pop()
    if secure is not None and secure != is_secure:
        what, flag = ("secured (SASL_SSL)", "without --secure") if is_secure else ("not secured", "with --secure")
        raise SandboxError(
            f"the sandbox in {folder} is {what}; run `clusterlink sandbox down` first to start it {flag}"
        )
    return is_secure


def grant_link_acls(cluster: KafkaCluster, role: str, principal: str = f"User:{LINKER}",
                    timeout: float = 30.0) -> None:
    """Give `principal` (as the cluster's admin) the ACLs a link needs on its `role` cluster."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    if not cluster.secure:
        raise SandboxError(f"the cluster in {cluster.folder} is not secured: it has no ACLs")
    admin = AdminClient(cluster.client_config())
    try:
        for future in admin.create_acls(link_acls(role, principal), request_timeout=timeout).values():
            future.result(timeout)
    except KafkaException as exc:
        raise SandboxError(
            f"creating the ACLs of {principal} on the {role} cluster in {cluster.folder} failed: {exc}"
        ) from exc


def _check_requested_ports(clusters: dict[str, KafkaCluster], wanted: dict[str, int | None]) -> None:
    for role, port in wanted.items():
        have = clusters[role].nodes[0].port
        if port is not None and port != have:
            raise SandboxError(
                f"the sandbox in {clusters[role].folder.parent} already has its {role} on port "
                f"{have}; run `clusterlink sandbox down` first to use port {port}"
            )


def _bring_up_both(
    folder: Path, wanted: dict[str, int | None], current: dict[str, ClusterStatus | None], secure: bool
) -> dict[str, KafkaCluster]:
    existing = {r: load_cluster(folder / r) for r in ROLES if current[r] is not None}
    _check_requested_ports(existing, {r: p for r, p in wanted.items() if r in existing})
    fresh_ports = {
        r: wanted[r] or (DEFAULT_SOURCE_PORT if r == "source" else DEFAULT_DESTINATION_PORT)
        for r in ROLES
        if r not in existing
    }
    for role, port in fresh_ports.items():
        _require_free(role, port)
    # Two JVMs start faster side by side than one after the other, even on 2 cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            role: pool.submit(_bring_up_one, folder / role, fresh_ports.get(role), secure)
            for role in ROLES
        }
        errors = []
        clusters: dict[str, KafkaCluster] = {}
        for role, future in futures.items():
            try:
                clusters[role] = future.result()
            except SandboxError as exc:
                errors.append(f"{role}: {exc}")
    if errors:
        raise SandboxError("\n".join(errors))
    return clusters


def _bring_up_one(folder: Path, port: int | None, secure: bool) -> KafkaCluster:
    if (folder / STATE_FILE).exists():
        return resume_cluster(folder)  # restart stopped nodes with their data (and security)
    assert port is not None
    return start_cluster(folder, port, secure=secure)


def _require_free(role: str, port: int) -> None:
    for p, what in ((port, "port"), (port + 1, "controller port")):
        if not port_is_free(p):
            raise PortInUseError(
                f"{role} {what} {p} on 127.0.0.1 is already in use by another program; "
                f"stop it or choose another port with --{role}-port"
            )


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # Two `sandbox up` at once must not both format and start the same clusters.
    with open(folder / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
