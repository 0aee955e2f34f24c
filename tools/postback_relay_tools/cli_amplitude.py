"""`postback-relay amplitude-emulator`: run the local Amplitude (ingestion + Dashboard REST API) on its own."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the `amplitude-emulator` subcommand to the CLI's subparsers (argparse `_SubParsersAction`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "amplitude-emulator",
        help="run a local Amplitude: /attribution, /identify, /2/httpapi and the Dashboard REST API /api/2/…",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--db", default=":memory:", help="SQLite file to keep the project in (default: in memory)")
    parser.add_argument("--api-key", default=None, help="project API key (default: $AMPLITUDE_API_KEY or a local key)")
    parser.add_argument("--secret-key", default=None, help="Dashboard secret key (default: the local secret)")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction of ingestion requests to fault (0-1)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to delay every ingestion answer")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until interrupted (or until `stop` is set, for tests)."""
    import os

    from .emulator import LOCAL_SECRET_KEY, AmplitudeEmulator
    from .local.amplitude_sink import FaultPlan

    if not 0.0 <= args.fail_rate <= 1.0:
        print("error: --fail-rate must be within [0, 1]", file=sys.stderr)
        return 2
    if args.latency < 0:
        print("error: --latency must be >= 0", file=sys.stderr)
        return 2
    api_key = args.api_key or os.environ.get("AMPLITUDE_API_KEY") or "local-amplitude-key"
    faults = FaultPlan.random(args.fail_rate, args.seed) if args.fail_rate > 0 else FaultPlan.none()
    emulator = AmplitudeEmulator(
        api_key=api_key,
        host=args.host,
        port=args.port,
        faults=faults,
        secret_key=args.secret_key or LOCAL_SECRET_KEY,
        db=args.db,
        latency_s=args.latency,
    ).start()
    print(f"Amplitude emulator on {emulator.url} (db: {args.db})", flush=True)
    print(f"  ingestion: {emulator.url}/attribution  /identify  /2/httpapi   (api_key {api_key})", flush=True)
    print(f"  dashboard: {emulator.url}/api/2/…  (Basic auth api_key:secret_key)", flush=True)
    waiter = stop or threading.Event()
    try:
        waiter.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0
