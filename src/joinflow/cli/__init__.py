"""The ``joinflow`` command (also ``python -m joinflow``).

    joinflow worker mypipeline.analysis:Stats                # module:Class
    joinflow worker lab_analysis.Stats --module mypipeline.analysis
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="joinflow")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="populate a table from its jobs queue until stopped")
    w.add_argument("table", help="module:Class, or schema.Table with --module")
    w.add_argument("--module", "-m", help="module that defines the table class")
    w.add_argument("--poll-interval", type=float, default=5.0,
                   help="seconds to wait when the queue is empty (default 5)")
    w.add_argument("--max-idle", type=float, default=None,
                   help="stop after this many seconds without work (default: never)")
    w.add_argument("--once", action="store_true", help="one pass over the queue, then stop")
    w.add_argument("--max-calls", type=int, default=None, help="stop after this many jobs")
    w.add_argument("--priority", type=int, default=None,
                   help="only jobs of this priority or more urgent (lower numbers)")
    w.add_argument("--quiet", "-q", action="store_true", help="log warnings only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        return _worker(args)
    return 2  # pragma: no cover - argparse requires a command


def _worker(args: argparse.Namespace) -> int:
    import logging
    import os

    from ..pipeline import worker
    sys.path.insert(0, os.getcwd())  # the user's modules, as `python -m` would find them
    worker.configure_logging(logging.WARNING if args.quiet else logging.INFO)
    worker.install_signal_handlers()
    table = worker.load_table(args.table, args.module)
    worker.run(table, poll_interval=args.poll_interval, max_idle=args.max_idle,
               once=args.once, max_calls=args.max_calls, priority=args.priority)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
