"""`clusterlink serve`: the API, the reconciler and the workers in one process."""

from __future__ import annotations

import argparse
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


def _still_owner(check, engine, token: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        return check(engine, token)
    except Exception:  # noqa: BLE001 - an unreachable store is not a lost lock; lock.alive() tells
        return True


def run(args: argparse.Namespace) -> int:
    # Imported here so client commands start fast.
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from clusterlink.api.server import build_server
    from clusterlink.cli.log_repeats import RepeatFilter
    from clusterlink.metrics.exporter import build_metrics, serve_metrics
    from clusterlink.reconcile.runtimes import Reconciler
    from clusterlink.store.db import default_url, make_engine, owned_session_factory, upgrade
    from clusterlink.store.ownership import DatabaseInUseError, claim, hold_database, still_owner
    from clusterlink.store.secrets import SecretKeyError, load_box

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
    try:
        box = load_box(Path(args.secret_key_file) if args.secret_key_file else None)
        lock = hold_database(url)
        upgrade(url)
        engine = make_engine(url)
        token = claim(engine, lock)
    except (SecretKeyError, DatabaseInUseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line at the edge
        print(f"error: cannot open the database {shown}: {exc.__class__.__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    factory = owned_session_factory(engine, token)
    metrics = build_metrics(factory)
    if args.metrics_listen != "off":
        try:
            serve_metrics(metrics, args.metrics_listen)
        except OSError as exc:
            print(f"error: cannot listen for metrics on {args.metrics_listen}: {exc}", file=sys.stderr)
            return 1
    reconciler = Reconciler(factory, box, metrics, interval=args.reconcile_interval)
    try:
        server, port = build_server(args.listen, factory, box, on_change=reconciler.wake, security=security)
    except RuntimeError as exc:
        print(f"error: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop = threading.Thread(target=reconciler.run, args=(stop,), name="reconciler", daemon=True)
    server.start()
    loop.start()
    host = args.listen.rpartition(":")[0]
    transport = "TLS" if security.tls_cert_pem else "plaintext"
    auth = ", bearer token required" if security.token else ""
    print(f"clusterlink serving on {host}:{port} ({transport}{auth}; database {shown}, "
          f"metrics {args.metrics_listen})", flush=True)
    status = 0
    while not stop.wait(5.0):
        if not lock.alive() or not _still_owner(still_owner, engine, token):
            logging.getLogger(__name__).error(
                "lost the exclusive lock on the database %s; stopping so that no mirror gets two writers", shown
            )
            status = 1
            stop.set()
    logging.getLogger(__name__).info("shutting down")
    server.stop(5).wait()
    loop.join(60)
    lock.release()
    return status
