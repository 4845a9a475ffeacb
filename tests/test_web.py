"""The live pipeline page (``joinflow.web``): its JSON on every backend, its routes, and the
page itself rendered by a real browser (Debian's chromium, headless) when one is installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

import joinflow as dj
from joinflow import web


def _pipeline(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        sid : int32
        ---
        born = null : date
        """

    @schema
    class Stat(dj.Computed):
        definition = """
        -> Subject
        ---
        v : float64
        """

        class Detail(dj.Part):
            definition = """
            -> master
            k : int8
            """

        def make(self, key):
            if key["sid"] % 3 == 0:
                raise ValueError(f"bad <b>{key['sid']}</b>")
            self.insert1(dict(key, v=float(key["sid"])))
            self.Detail.insert1(dict(key, k=1))

    Subject.insert({"sid": i} for i in range(10))
    return Subject, Stat


@pytest.fixture
def viewer(backend, tmp_path, conn):
    """A second connection, as the page's own process would have."""
    from conftest import connect
    c = connect(backend, tmp_path)
    yield c
    c.close()


def _tables(state):
    return {t["name"]: t for s in state["schemas"] for t in s["tables"]}


def test_state_shows_rows_progress_jobs_and_errors(schema, viewer):
    Subject, Stat = _pipeline(schema)
    Stat.populate(reserve_jobs=True, suppress_errors=True, max_calls=6)
    state = web.snapshot([dj.Schema(schema.database, connection=viewer)])
    assert [s["name"] for s in state["schemas"]] == [schema.database]
    tables = _tables(state)
    assert list(tables) == ["Subject", "Stat", "Stat.Detail"]  # dependency order, parts named
    assert tables["Subject"] == {"name": "Subject", "sql_name": "subject", "tier": "Manual",
                                 "rows": 10}
    stat = tables["Stat"]
    assert (stat["tier"], stat["rows"]) == ("Computed", 4)
    assert stat["progress"] == {"remaining": 6, "total": 10}
    assert stat["jobs"]["error"] == 2 and stat["jobs"]["pending"] == 4
    assert sorted(e["key"]["sid"] for e in stat["errors"]) == [0, 3]
    assert {e["error_message"] for e in stat["errors"]} == {"ValueError: bad <b>0</b>",
                                                           "ValueError: bad <b>3</b>"}
    assert tables["Stat.Detail"]["tier"] == "Part" and tables["Stat.Detail"]["rows"] == 4
    json.dumps(state)  # plain JSON all the way down

    Stat.populate(reserve_jobs=True, suppress_errors=True)
    stat = _tables(web.snapshot([dj.Schema(schema.database, connection=viewer)]))["Stat"]
    assert stat["progress"] == {"remaining": 4, "total": 10}  # the 4 keys with errors stay
    assert (stat["rows"], stat["jobs"]["pending"], stat["jobs"]["error"]) == (6, 0, 4)


def test_looking_creates_no_jobs_table(schema, viewer):
    _Subject, Stat = _pipeline(schema)
    Stat.populate(max_calls=2, suppress_errors=True)  # no queue used
    stat = _tables(web.snapshot([dj.Schema(schema.database, connection=viewer)]))["Stat"]
    assert stat["jobs"] is None and stat["errors"] == []
    assert stat["progress"] == {"remaining": 9, "total": 10}  # sid 0 failed, sid 1 made
    tables = viewer.backend.list_tables(viewer.run, schema.database)
    assert not [t for t in tables if t.startswith("~~")]


@pytest.fixture
def served(schema, viewer):
    Subject, Stat = _pipeline(schema)
    Stat.populate(reserve_jobs=True, suppress_errors=True, max_calls=6)
    server = web.make_server([schema.database], port=0, interval=0.2, connection=viewer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, Stat
    server.shutdown()
    server.server_close()
    thread.join(5)


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_routes(served):
    server, _Stat = served
    assert server.url.startswith("http://127.0.0.1:")
    status, ctype, body = _get(server.url)
    assert status == 200 and ctype.startswith("text/html")
    assert b"const INTERVAL = 200;" in body
    status, ctype, body = _get(server.url + "api/state")
    assert (status, ctype) == (200, "application/json")
    assert _tables(json.loads(body))["Stat"]["progress"] == {"remaining": 6, "total": 10}
    status, ctype, body = _get(server.url + "api/diagram.svg")
    assert ctype == "image/svg+xml" and b"<svg" in body and b"Stat" in body
    with pytest.raises(urllib.error.HTTPError) as info:
        _get(server.url + "api/../../etc/passwd")
    assert info.value.code == 404


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="at least one schema"):
        web.make_server([], port=0)
    with pytest.raises(ValueError, match="interval"):
        web.make_server(["x"], port=0, interval=0)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _render(url: str, tmp_path) -> str:
    """The page's DOM after its script ran, from headless chromium."""
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=5000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_page_in_a_real_browser(served, tmp_path):
    import html.parser

    class Cells(html.parser.HTMLParser):
        """Text per (row's data-table, cell class), and error entries."""

        def __init__(self):
            super().__init__()
            self.cells, self.errors, self.tags = {}, [], []
            self.row = self.cls = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.tags.append(tag)
            if tag == "tr" and "data-table" in attrs:
                self.row = attrs["data-table"]
            if tag in ("td", "pre", "span"):
                self.cls = attrs.get("class") or ""
                if tag == "pre" and "error-entry" in self.cls:
                    self.errors.append("")

        def handle_data(self, data):
            if self.row and self.cls is not None:
                key = (self.row.split(".", 1)[1], self.cls.split()[-1] if self.cls else "")
                self.cells[key] = self.cells.get(key, "") + data
            if self.tags and self.tags[-1] == "pre" and self.errors:
                self.errors[-1] += data

        def handle_endtag(self, tag):
            if self.tags:
                self.tags.pop()
            if tag == "tr":
                self.row = None

    server, Stat = served
    page = Cells()
    page.feed(_render(server.url, tmp_path))
    assert page.cells[("Stat", "progress-text")] == "4 / 10"
    assert page.cells[("Stat", "rows")] == "4"
    assert page.cells[("Stat", "err")] == "2"  # the error count, marked
    assert page.cells[("Subject", "rows")] == "10"
    assert "b" not in page.tags  # error messages shown as text, never as markup
    assert any(e.endswith("ValueError: bad <b>0</b>") for e in page.errors)
    assert len(page.errors) == 2

    Stat.populate(reserve_jobs=True, suppress_errors=True)  # the next look shows the change
    page = Cells()
    page.feed(_render(server.url, tmp_path))
    assert page.cells[("Stat", "progress-text")] == "6 / 10"
    assert len(page.errors) == 4


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true", reason="CI only")
def test_ci_has_a_browser():
    """.ci/run installs chromium, so the browser test above runs in CI."""
    assert CHROMIUM is not None, "chromium is missing: the page was not checked in a browser"


def test_command_serves_the_page(tmp_path):
    """``joinflow web SCHEMA --port N`` on a SQLite file: the page answers, Ctrl-C stops it."""
    import signal
    import socket
    import sys
    import time

    db = tmp_path / "p.db"
    c = dj.Connection(config=_sqlite_config(db))
    schema = dj.Schema("lab", connection=c)
    _pipeline(schema)
    c.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DJ_BACKEND="sqlite", JF_DATABASE_PATH=str(db))
    proc = subprocess.Popen([sys.executable, "-m", "joinflow", "web", "lab", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    try:
        state = None
        for _ in range(100):
            try:
                state = json.loads(_get(f"http://127.0.0.1:{port}/api/state")[2])
                break
            except OSError:
                time.sleep(0.1)
        assert state is not None, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert _tables(state)["Stat"]["progress"] == {"remaining": 10, "total": 10}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"at http://127.0.0.1:{port}/" in out


def test_command_names_a_missing_schema(tmp_path):
    import sys
    env = dict(os.environ, DJ_BACKEND="sqlite", JF_DATABASE_PATH=str(tmp_path / "p.db"))
    out = subprocess.run([sys.executable, "-m", "joinflow", "web", "nope", "--port", "0"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 1
    assert out.stderr.startswith("joinflow web: error:") and "nope" in out.stderr


def _sqlite_config(path):
    cfg = dj.config.child()
    cfg["database.backend"] = "sqlite"
    cfg["database.path"] = str(path)
    cfg["safemode"] = False
    return cfg


def test_other_host_names_are_refused(served):
    """DNS rebinding: a page elsewhere that points its own name at 127.0.0.1 reads nothing."""
    server, _Stat = served
    port = server.server_address[1]
    for host in (f"evil.example:{port}", "evil.example"):
        request = urllib.request.Request(server.url + "api/state", headers={"Host": host})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)
        assert info.value.code == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        request = urllib.request.Request(server.url + "api/state", headers={"Host": host})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
