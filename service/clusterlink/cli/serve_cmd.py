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
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so client commands start fast.
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from clusterlink.api.server import build_server
    from clusterlink.metrics.exporter import build_metrics, serve_metrics
    from clusterlink.reconcile.workers import Reconciler
    from clusterlink.store.db import default_url, make_engine, session_factory, upgrade
    from clusterlink.store.secrets import SecretKeyError, load_box

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    url = args.db or default_url()
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        box = load_box(Path(args.secret_key_file) if args.secret_key_file else None)
        upgrade(url)
    except SecretKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line at the edge
        print(f"error: cannot open the database {shown}: {exc.__class__.__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    factory = session_factory(make_engine(url))
    metrics = build_metrics(factory)
    if args.metrics_listen != "off":
        try:
            serve_metrics(metrics, args.metrics_listen)
        except OSError as exc:
            print(f"error: cannot listen for metrics on {args.metrics_listen}: {exc}", file=sys.stderr)
            return 1
    reconciler = Reconciler(factory, box, metrics, interval=args.reconcile_interval)
    try:
        server, port = build_server(args.listen, factory, box, on_change=reconciler.wake)
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
    print(f"clusterlink serving on {host}:{port} (database {shown}, metrics {args.metrics_listen})", flush=True)
    stop.wait()
    logging.getLogger(__name__).info("shutting down")
    server.stop(5).wait()
    loop.join(60)
    return 0
