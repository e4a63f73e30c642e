"""The user-facing sandbox: a "source" and a "destination" single-node Kafka on this machine.

    <folder>/source/       a KRaft cluster (see cluster.py), clients on source_port
    <folder>/destination/  a KRaft cluster, clients on destination_port

`up` is idempotent: on a running sandbox it only reports it, on a stopped one (after a
reboot, or a crash) it restarts the brokers with their data on the ports they had.
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

__all__ = [
    "DEFAULT_SOURCE_PORT",
    "DEFAULT_DESTINATION_PORT",
    "ROLES",
    "SandboxInfo",
    "SandboxStatus",
    "SandboxError",
    "default_folder",
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
) -> SandboxInfo:
    """Start (or find running) both clusters; return once both accept requests.

    Ports default to what an existing sandbox in `folder` uses, else 19092 / 29092;
    each cluster's controller listens on the next port up.
    """
    folder = (folder or default_folder()).absolute()
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _up_locked(folder, source_port, destination_port, started)
    except SandboxError:
        _remove_if_empty(folder)  # a failed first `up` leaves no trace behind
        raise


def _up_locked(folder: Path, source_port: int | None, destination_port: int | None, started: float) -> SandboxInfo:
    with _locked(folder):
        find_java()  # the commonest problem, reported before anything else happens
        wanted = {"source": source_port, "destination": destination_port}
        current = _current_status(folder)
        if all(current[r] is not None and current[r].running for r in ROLES):
            clusters = {r: load_cluster(folder / r) for r in ROLES}
            _check_requested_ports(clusters, wanted)
            return SandboxInfo(folder, clusters["source"], clusters["destination"], True, 0.0)
        ensure_jars()  # once, before two threads would queue on its lock
        clusters = _bring_up_both(folder, wanted, current)
    return SandboxInfo(
        folder, clusters["source"], clusters["destination"], False, time.monotonic() - started
    )


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


def _check_requested_ports(clusters: dict[str, KafkaCluster], wanted: dict[str, int | None]) -> None:
    for role, port in wanted.items():
        have = clusters[role].nodes[0].port
        if port is not None and port != have:
            raise SandboxError(
                f"the sandbox in {clusters[role].folder.parent} already has its {role} on port "
                f"{have}; run `clusterlink sandbox down` first to use port {port}"
            )


def _bring_up_both(
    folder: Path, wanted: dict[str, int | None], current: dict[str, ClusterStatus | None]
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
            role: pool.submit(_bring_up_one, folder / role, fresh_ports.get(role))
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


def _bring_up_one(folder: Path, port: int | None) -> KafkaCluster:
    if (folder / STATE_FILE).exists():
        return resume_cluster(folder)  # restart stopped nodes with their data
    assert port is not None
    return start_cluster(folder, port)


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
