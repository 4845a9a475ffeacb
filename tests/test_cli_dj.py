"""The `dj` console (DataJoint's command, `dj.cli`, `python -m joinflow.cli`) and
`joinflow shell`: a Python REPL with dj loaded, run here with its input piped."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

import joinflow as dj

from conftest import URLS

SRC = Path(dj.__file__).resolve().parents[1]
SECRET = "hunter2-cli-secret"


def run(args: list[str], stdin: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("DJ_", "JF_")) or k.startswith("JF_TEST_")}
    environ.update(PYTHONPATH=str(SRC), **env)
    return subprocess.run([sys.executable, "-m", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, env=environ, timeout=120)


def server_args(backend: str, conn: dj.Connection) -> tuple[list[str], dict[str, str]]:
    """Command-line options (and environment) naming the database ``conn`` talks to."""
    if backend == "sqlite":
        return ["--backend", "sqlite"], {"JF_DATABASE_PATH": conn.config["database.path"]}
    url = urlparse(URLS[backend])
    args = ["--backend", backend, "--host", f"{url.hostname}:{url.port}", "-u", url.username,
            "-p", url.password or ""]
    env = {"JF_DATABASE_NAME": conn.config["database.name"]} if backend == "postgresql" else {}
    return args, env


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        dj.cli(args=["-V"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"joinflow {dj.__version__}\n"
    with pytest.raises(SystemExit) as info:
        dj.cli(["--help"])
    assert info.value.code == 0 and "schema_name:alias" in capsys.readouterr().out
    from joinflow.cli import cli
    with pytest.raises(SystemExit) as info:
        cli(["-s", "no-alias-here"])
    assert info.value.code == 2 and "schema_name:alias" in capsys.readouterr().err


def test_dj_entry_point_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    scripts = pyproject["project"]["scripts"]
    assert scripts["dj"] == "joinflow.cli:cli" and scripts["joinflow"] == "joinflow.cli:main"
    import joinflow.cli
    assert callable(joinflow.cli.cli) and callable(joinflow.cli.main)


def test_console_with_schema_module(backend, conn, schema, tmp_path):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        species : varchar(32)
        """

    Subject.insert([{"subject_id": 1, "species": "mouse"}, {"subject_id": 2, "species": "rat"}])
    args, env = server_args(backend, conn)
    lines = ["print(lab.Subject.to_dicts(order_by='subject_id'))", "print(lab.schema.database)",
             "print(dj.conn().backend.name)", "print(type(lab).__name__)"]
    out = run(["joinflow.cli", *args, "-s", f"{schema.database}:lab"], "\n".join(lines) + "\n",
              tmp_path, **env)
    assert out.returncode == 0, out.stderr
    assert "[{'subject_id': 1, 'species': 'mouse'}, {'subject_id': 2, 'species': 'rat'}]" \
        in out.stdout
    assert schema.database in out.stdout and f"\n{backend}\n" in out.stdout.replace(">>> ", "\n")
    assert "VirtualModule" in out.stdout
    assert f"lab -> {schema.database}" in out.stderr  # the banner names the loaded schemas
    # `joinflow shell` is the same console; a line that raises makes the exit status 1
    shell = run(["joinflow", "shell", *args, "-s", f"{schema.database}:lab"],
                "print(len(lab.Subject))\nlab.Nothing\n", tmp_path, **env)
    assert shell.returncode == 1 and "2" in shell.stdout.split()
    assert "AttributeError" in shell.stderr


def test_console_settings_and_secrets(tmp_path):
    db = str(tmp_path / "cli.db")
    lines = ["dj.config", "print(dj.config)", "print(dj.conn())",
             "print(dj.config['database.user'], dj.config['database.host'])"]
    out = run(["joinflow.cli", "--backend", "sqlite", "-u", "ana", "-p", SECRET,
               "--host", "db.example.org"],
              "\n".join(lines) + "\n", tmp_path, JF_DATABASE_PATH=db)
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert "password='***'" in out.stdout and "host=" in out.stdout and "user=" in out.stdout
    assert "ana db.example.org" in out.stdout and "sqlite:" in out.stdout


def test_console_cannot_start(tmp_path):
    out = run(["joinflow.cli", "--backend", "mysql", "--host", "127.0.0.1:1", "-u", "nobody",
               "-p", SECRET, "-s", "lab:lab"], "print('never')\n", tmp_path)
    assert out.returncode == 1 and "never" not in out.stdout
    assert out.stderr.startswith("dj: error: cannot connect") and SECRET not in out.stderr
    assert "Traceback" not in out.stderr
    threadsafe = run(["joinflow", "shell", "--backend", "sqlite"], "print('never')\n", tmp_path,
                     DJ_THREAD_SAFE="true")
    assert threadsafe.returncode == 1 and "thread-safe mode" in threadsafe.stderr
