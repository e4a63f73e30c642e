"""`clusterlink serve`: the API, the reconciler and the workers in one process."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the ClusterLink service (API, reconciler, workers)")
    p.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="gRPC listen address (default 127.0.0.1:50051; port 0 picks a free one)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="database URL: sqlite:///PATH or postgresql://USER:PASS@HOST/DB "
                        "(default: SQLite under the user's data directory)")
    p.add_argument("--metrics-listen", default="127.0.0.1:9464", metavar="HOST:PORT",
                   help="Prometheus endpoint (default 127.0.0.1:9464; 'off' disables it)")
    p.add_argument("--secret-key-file", default=None, metavar="PATH",
                   help="Fernet key that encrypts stored secrets (default: created once under the "
                        "user's data directory; CLUSTERLINK_SECRET_KEY overrides)")
    p.add_argument("--reconcile-interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often the reconciler converges when nothing wakes it (default 1)")
    p.add_argument("--tls-cert-file", default=None, metavar="PATH",
                   help="serve the API over TLS with this PEM certificate (needs --tls-key-file)")
    p.add_argument("--tls-key-file", default=None, metavar="PATH", help="PEM private key for --tls-cert-file")
    p.add_argument("--tls-client-ca-file", default=None, metavar="PATH",
                   help="require client certificates signed by this PEM CA (mutual TLS)")
    p.add_argument("--token-file", default=None, metavar="PATH",
                   help="require 'authorization: Bearer TOKEN' on every call but health checks; "
                        "the token is the file's first line (CLUSTERLINK_TOKEN overrides)")
    p.add_argument("--replica-id", default=None, metavar="ID",
                   help="this replica's name in statuses, metrics and `replicas list` (default: HOST-PID; "
                        "in Kubernetes, the pod name)")
    p.add_argument("--replica-group-prefix", default="clusterlink.", metavar="PREFIX",
                   help="replicas share each link's partitions through the consumer group PREFIX+LINK on the "
                        "link's source cluster (default 'clusterlink.'; only with PostgreSQL; two deployments "
                        "that mirror from one source cluster need different prefixes)")
    p.add_argument("--replica-session-timeout-ms", type=int, default=10000, metavar="MS",
                   help="a replica that stops answering loses its partitions to the others after this long "
                        "(the groups' session.timeout.ms; default 10000)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def _security(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import os
    from pathlib import Path

    from clusterlink.api.security import ServerSecurity

    if bool(args.tls_cert_file) != bool(args.tls_key_file):
        raise ValueError("--tls-cert-file and --tls-key-file go together")
    if args.tls_client_ca_file and not args.tls_cert_file:
        raise ValueError("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
    token = os.environ.get("CLUSTERLINK_TOKEN") or None
    if token is None and args.token_file:
        token = Path(args.token_file).read_text().splitlines()[0].strip() or None
        if token is None:
            raise ValueError(f"--token-file {args.token_file} is empty")

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return ServerSecurity(
        tls_cert_pem=read(args.tls_cert_file),
        tls_key_pem=read(args.tls_key_file),
        client_ca_pem=read(args.tls_client_ca_file),
        token=token,
    )


def _heartbeats(factory, replica_id: str, shares, stop: threading.Event,  # type: ignore[no-untyped-def]
                health: dict[str, float]) -> None:
    """Records this replica's heartbeat and share; `health['ok']` is the time of the last one that worked."""
    import time

    from clusterlink.store import replicas

    while not stop.is_set():
        try:
            replicas.heartbeat(factory, replica_id, shares())
            health["ok"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - an unreachable store is reported, and acted on by store_ok
            logging.getLogger(__name__).warning("cannot record this replica's heartbeat: %s",
                                                str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__)
        stop.wait(HEARTBEAT_SECONDS)


# How often a replica records its heartbeat, and how long without one before it
# stops copying (its store is unreachable: it can no longer record progress, and
# other replicas may take its partitions over).
HEARTBEAT_SECONDS = 2.0
STORE_TIMEOUT_SECONDS = 10.0


# Objects allocated between two collections of the youngest generation (CPython's
# default is 700). The service keeps a large, long-lived heap (thousands of
# partition states, clients, the ORM) and decodes large answers (metadata, topic
# configs, fetch answers) into many objects that die young. At the default, each
# such decode moved tens of thousands of objects into the oldest generation and
# set off full collections, each a walk of the whole heap: with 5,000 partitions
# they took a third of the idle service's CPU, and 20 s of its first minute.
GC_YOUNG_OBJECTS = 50_000
GC_OLDER_EVERY = 20  # collections of one generation before one of the next


def _tune_gc() -> None:
    """Collects rarely: most garbage is freed by reference counting anyway, and what
    the start-up loaded (modules, classes) is never looked at again."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, GC_OLDER_EVERY, GC_OLDER_EVERY)


def _advertised(listen: str, port: int) -> str:
    import socket

    host = listen.rpartition(":")[0]
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def _still_owner(check, engine, token: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        return check(engine, token)
    except Exception:  # noqa: BLE001 - an unreachable store is not a lost lock; lock.alive() tells
        return True


def run(args: argparse.Namespace) -> int:
    # Imported here so client commands start fast.
    import faulthandler
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from clusterlink.api.server import build_server
    from clusterlink.cli.log_repeats import RepeatFilter
    from clusterlink.metrics.exporter import build_metrics, serve_metrics
    import time

    from clusterlink.reconcile.runtimes import Reconciler
    from clusterlink.replicas.settings import ReplicaSettings
    from clusterlink.store import replicas
    from clusterlink.store.db import (
        default_url,
        make_engine,
        normalize_url,
        owned_session_factory,
        session_factory,
        upgrade,
    )
    from clusterlink.store.ownership import DatabaseInUseError, DatabaseLock, claim, hold_database, still_owner
    from clusterlink.store.secrets import SecretKeyError, load_box

    # A crash inside a C library (librdkafka asserts and aborts) then leaves every
    # thread's Python stack on stderr, not only "Aborted".
    faulthandler.enable()
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # kafka-python logs every connection at INFO; its warnings still show,
    # each kind once a minute (a broker down would repeat them every second).
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(args.log_level)))
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter("kafka."))
    try:
        security = _security(args)
    except (OSError, ValueError, IndexError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    url = args.db or default_url()
    shown = make_url(url).render_as_string(hide_password=True)
    # PostgreSQL: any number of replicas share the work through Kafka's group
    # protocol. SQLite: one process, which owns everything.
    shared = not normalize_url(url).startswith("sqlite")
    try:
        replica_id = replicas.validate_replica_id(args.replica_id) if args.replica_id \
            else replicas.default_replica_id()
        if not 1000 <= args.replica_session_timeout_ms <= 300000:
            raise ValueError("--replica-session-timeout-ms must be between 1000 and 300000")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    token: str | None = None
    try:
        box = load_box(Path(args.secret_key_file) if args.secret_key_file else None)
        lock = DatabaseLock(release=lambda: None) if shared else hold_database(url)
        upgrade(url)
        engine = make_engine(url)
        if not shared:
            token = claim(engine, lock)
    except (SecretKeyError, DatabaseInUseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line at the edge
        print(f"error: cannot open the database {shown}: {exc.__class__.__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    factory = owned_session_factory(engine, token) if token else session_factory(engine)
    holder: list[Reconciler] = []
    metrics = build_metrics(factory, replica_id, lambda: holder[0].shares() if holder else {})
    if args.metrics_listen != "off":
        try:
            serve_metrics(metrics, args.metrics_listen)
        except OSError as exc:
            print(f"error: cannot listen for metrics on {args.metrics_listen}: {exc}", file=sys.stderr)
            return 1
    health = {"ok": time.monotonic()}
    settings = ReplicaSettings(replica_id, shared, args.replica_group_prefix, args.replica_session_timeout_ms)
    # Only a shared database stops the copying when out of reach: other replicas
    # may take the work over. The only replica keeps copying, as before.
    reconciler = Reconciler(factory, box, metrics, interval=args.reconcile_interval, replica=settings,
                            store_ok=(lambda: time.monotonic() - health["ok"] < STORE_TIMEOUT_SECONDS)
                            if shared else (lambda: True))
    holder.append(reconciler)
    try:
        server, port = build_server(args.listen, factory, box, on_change=reconciler.wake, security=security)
    except RuntimeError as exc:
        print(f"error: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop = threading.Thread(target=reconciler.run, args=(stop,), name="reconciler", daemon=True)
    try:
        replicas.register(factory, replica_id, _advertised(args.listen, port))
    except Exception as exc:  # noqa: BLE001 - one clear line at the edge
        print(f"error: cannot register replica {replica_id} in {shown}: {exc}", file=sys.stderr)
        return 1
    # On a shared database the heartbeat has connections of its own: a busy API or
    # runtime that holds every pooled connection must not make this replica look cut
    # off from the store (it would stop copying and hand its partitions away).
    beat_factory = session_factory(make_engine(url, pool_size=1)) if shared else factory
    beats = threading.Thread(target=_heartbeats, args=(beat_factory, replica_id, reconciler.shares, stop, health),
                             name="heartbeat", daemon=True)
    _tune_gc()
    server.start()
    loop.start()
    beats.start()
    host = args.listen.rpartition(":")[0]
    transport = "TLS" if security.tls_cert_pem else "plaintext"
    auth = ", bearer token required" if security.token else ""
    mode = f"replica {replica_id}, sharing links through groups {args.replica_group_prefix}LINK" if shared \
        else f"replica {replica_id}, the only one (SQLite)"
    print(f"clusterlink serving on {host}:{port} ({transport}{auth}; database {shown}, "
          f"metrics {args.metrics_listen}; {mode})", flush=True)
    status = 0
    while not stop.wait(5.0):
        if token is not None and (not lock.alive() or not _still_owner(still_owner, engine, token)):
            logging.getLogger(__name__).error(
                "lost the exclusive lock on the database %s; stopping so that no mirror gets two writers", shown
            )
            status = 1
            stop.set()
    logging.getLogger(__name__).info("shutting down")
    server.stop(5).wait()
    loop.join(60)
    try:
        replicas.unregister(factory, replica_id)
    except Exception:  # noqa: BLE001 - its row ages out of the listing anyway
        pass
    lock.release()
    return status
