"""A small live page for a pipeline: its diagram, progress and jobs, served on loopback.

    import joinflow as dj
    from joinflow import web
    web.serve(["lab", "analysis"])            # http://127.0.0.1:8000/, until Ctrl-C

or ``joinflow web lab analysis --port 8000``. The page polls ``/api/state`` (JSON) and shows,
per table, its tier and rows and, for auto-populated tables, ``progress()`` and the jobs
queue's counts with the latest errors. It only reads: nothing on the page changes the
database, and no request parameter reaches SQL.
"""
from __future__ import annotations

from .server import make_server, serve
from .state import snapshot

__all__ = ["make_server", "serve", "snapshot"]
