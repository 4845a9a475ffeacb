"""The HTTP side: one page, its JSON and the diagram, from the standard library's server.

Routes: ``/`` the page, ``/api/state`` :func:`~joinflow.web.state.snapshot` as JSON,
``/api/diagram.svg`` the schemas' diagram. Requests are served one at a time on the
connection given (a connection is not shared between threads). Binds to 127.0.0.1 unless told
otherwise: the page shows error messages and keys, which are the lab's data.
"""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..connection import Connection
from ..schema import Schema
from .page import PAGE
from .state import snapshot

#: seconds a drawn diagram is reused (drawing a large pipeline takes a moment)
DIAGRAM_TTL = 30.0


class PipelineServer(HTTPServer):
    """An :class:`HTTPServer` that knows the schemas it shows."""

    def __init__(self, address: tuple[str, int], schemas: Sequence[Schema],
                 interval: float) -> None:
        super().__init__(address, _Handler)
        self.schemas = list(schemas)
        self.interval = interval
        self.allowed_hosts: list[str] = []  # further names the page may be reached by
        self._diagram: tuple[float, str] | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}/"

    def host_allowed(self, host: str) -> bool:
        """The ``Host`` a browser sent names this server: its address, ``localhost`` or the
        machine's own name (when bound to another address than loopback)."""
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        bound = self.server_address[0]
        if isinstance(bound, bytes):
            bound = bound.decode()
        allowed = {"localhost", "127.0.0.1", "::1", str(bound).lower()}
        if bound not in ("127.0.0.1", "localhost", "::1"):
            allowed.update({socket.gethostname().lower(), socket.getfqdn().lower()})
            allowed.update(h.lower() for h in self.allowed_hosts)
        return name in allowed

    def diagram_svg(self) -> str:
        now = time.monotonic()
        if self._diagram is None or now - self._diagram[0] > DIAGRAM_TTL:
            from ..diagram import Diagram
            diagram = Diagram(self.schemas[0])
            for schema in self.schemas[1:]:
                diagram = diagram + Diagram(schema)
            self._diagram = (now, diagram.svg_string())
        return self._diagram[1]


class _Handler(BaseHTTPRequestHandler):
    server: PipelineServer

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        path = urlsplit(self.path).path
        if not self.server.host_allowed(self.headers.get("Host", "")):
            # DNS rebinding: a web page elsewhere must not read the pipeline through a name
            # it points at 127.0.0.1
            self._send(HTTPStatus.MISDIRECTED_REQUEST, "text/plain; charset=utf-8",
                       "unknown host name\n")
            return
        try:
            if path in ("/", "/index.html"):
                page = PAGE.replace("__INTERVAL_MS__", str(int(self.server.interval * 1000)))
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
            elif path == "/api/state":
                body = json.dumps(snapshot(self.server.schemas), default=str)
                self._send(HTTPStatus.OK, "application/json", body)
            elif path == "/api/diagram.svg":
                self._send(HTTPStatus.OK, "image/svg+xml", self.server.diagram_svg())
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", "not found\n")
        except Exception as exc:  # the page shows the problem instead of a dropped connection
            body = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "application/json", body)

    def _send(self, status: HTTPStatus, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the page polls every few seconds


def _schemas(schemas: Sequence[str | Schema], connection: Connection | None) -> list[Schema]:
    if not schemas:
        raise ValueError("name at least one schema to show")
    out = []
    for s in schemas:
        out.append(s if isinstance(s, Schema) else
                   Schema(s, connection=connection, create_schema=False))
    return out


def make_server(schemas: Sequence[str | Schema], *, host: str = "127.0.0.1", port: int = 8000,
                interval: float = 2.0, connection: Connection | None = None) -> PipelineServer:
    """A server for ``schemas`` (names or :class:`Schema` objects), not yet serving; call
    ``serve_forever()`` (or ``handle_request()``) on it. ``port=0`` picks a free port
    (``server.url`` tells which); ``interval``: seconds between the page's refreshes."""
    if interval <= 0:
        raise ValueError("interval must be a positive number of seconds")
    return PipelineServer((host, port), _schemas(schemas, connection), interval)


def serve(schemas: Sequence[str | Schema], *, host: str = "127.0.0.1", port: int = 8000,
          interval: float = 2.0, connection: Connection | None = None) -> None:
    """Serve the page until interrupted (Ctrl-C)."""
    server = make_server(schemas, host=host, port=port, interval=interval,
                         connection=connection)
    print(f"joinflow: showing {', '.join(s.database for s in server.schemas)} at {server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
