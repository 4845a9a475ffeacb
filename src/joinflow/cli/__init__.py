"""The ``joinflow`` command (also ``python -m joinflow``) and DataJoint's ``dj`` command.

    joinflow worker mypipeline.analysis:Stats                # module:Class
    joinflow worker lab_analysis.Stats --module mypipeline.analysis
    joinflow shell -s lab:lab                                # the console, as `dj -s lab:lab`
    joinflow web lab analysis --port 8000                    # the live pipeline page
    dj --host 127.0.0.1 -u root -p '' -s lab:lab             # also `python -m joinflow.cli`

``joinflow.cli`` is callable: ``dj.cli(["-V"])`` runs the ``dj`` command (as DataJoint's
``dj.cli`` function), so it works whether ``dj.cli`` names this module or the function.
"""
from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Sequence

from .shell import add_connection_arguments, cli


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
    s = sub.add_parser("shell", help="an interactive Python console with dj loaded (the `dj` "
                                     "command)")
    add_connection_arguments(s)
    page = sub.add_parser("web", help="serve a live page of the pipeline (diagram, progress, "
                                      "jobs, errors) on loopback")
    page.add_argument("schema_names", nargs="+", metavar="SCHEMA", help="schemas to show")
    page.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
    page.add_argument("--bind", default="127.0.0.1",
                      help="address to serve on (default 127.0.0.1: only this machine)")
    page.add_argument("--interval", type=float, default=2.0,
                      help="seconds between the page's refreshes (default 2)")
    add_connection_arguments(page, schemas=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        return _worker(args)
    if args.command == "shell":
        from .shell import start
        return start(args, parser_for_errors("joinflow shell"))
    if args.command == "web":
        return _web(args)
    return 2  # pragma: no cover - argparse requires a command


def parser_for_errors(prog: str) -> argparse.ArgumentParser:
    """A parser that only words errors (``prog: error: ...``) for a subcommand."""
    return argparse.ArgumentParser(prog=prog)


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


def _web(args: argparse.Namespace) -> int:
    import joinflow

    from ..web import serve
    from .shell import apply_connection_arguments
    try:
        apply_connection_arguments(joinflow.config, args)
        serve(args.schema_names, host=args.bind, port=args.port, interval=args.interval)
    except (joinflow.errors.JoinflowError, ValueError, OSError) as exc:
        print(f"joinflow web: error: {exc}", file=sys.stderr)  # never carries the password
        return 1
    return 0


class _CallableModule(types.ModuleType):
    """This module, callable as DataJoint's ``dj.cli(args)``."""

    def __call__(self, args: Sequence[str] | None = None) -> None:
        cli(args)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["main", "cli", "build_parser"]
