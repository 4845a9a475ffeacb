"""populate() of N trivial keys: milliseconds per key, joinflow against DataJoint 2.3.5.

    .venv/bin/python bench/bench_populate.py [--keys 10000] [--backends sqlite,postgresql,mysql]
        [--datajoint /work/venvs/dj235/bin/python]

Three runs per backend, each on a fresh schema: one process (``populate()``), the jobs queue
(``populate(reserve_jobs=True)``, refresh included) and two processes
(``populate(reserve_jobs=True, processes=2)``). DataJoint 2.3.5 runs the same three on
PostgreSQL in a subprocess of the given interpreter (skipped, with a message, when absent).
Servers: PostgreSQL 127.0.0.1:5432 (postgres), MariaDB/MySQL 127.0.0.1:3306 (root).
Prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

MODES = {"single": {}, "reserve_jobs": {"reserve_jobs": True},
         "2 processes": {"reserve_jobs": True, "processes": 2}}

DJ_SCRIPT = r"""
import json, sys, time, uuid
import datajoint as dj
n = int(sys.argv[1])
for k, v in {"database.backend": "postgresql", "database.host": "127.0.0.1",
             "database.port": 5432, "database.user": "postgres", "database.password": "",
             "safemode": False}.items():
    dj.config[k] = v
modes = json.loads(sys.argv[2])
out = {}
for name, kwargs in modes.items():
    schema = dj.Schema("benchdj_" + uuid.uuid4().hex[:8])
    @schema
    class Src(dj.Manual):
        definition = "sid : int32"
    @schema
    class Comp(dj.Computed):
        definition = "-> Src\n---\nvalue : int32"
        def make(self, key):
            self.insert1(dict(key, value=key["sid"]))
    Src.insert([{"sid": i} for i in range(n)])
    start = time.perf_counter()
    Comp.populate(display_progress=False, **kwargs)
    out[name] = (time.perf_counter() - start) * 1e3 / n
    assert len(Comp()) == n, (name, len(Comp()))
    schema.drop(prompt=False)
print(json.dumps(out))
"""


def connect(backend: str, db: Path):
    import joinflow as dj
    cfg = dj.config.child()
    cfg["database.backend"] = backend
    cfg["safemode"] = False
    if backend == "sqlite":
        cfg["database.path"] = str(db)
    else:
        pg = backend == "postgresql"
        cfg["database.host"] = "127.0.0.1"
        cfg["database.port"] = 5432 if pg else 3306
        cfg["database.user"] = "postgres" if pg else "root"
        cfg["database.password"] = ""
        if pg:
            cfg["database.name"] = "postgres"
    return dj.Connection(config=cfg)


def run_joinflow(backend: str, n: int, workdir: Path) -> dict[str, float]:
    import joinflow as dj
    out = {}
    for name, kwargs in MODES.items():
        conn = connect(backend, workdir / f"{uuid.uuid4().hex[:8]}.db")
        schema = dj.Schema("benchjf_" + uuid.uuid4().hex[:8], connection=conn)

        @schema
        class Src(dj.Manual):
            definition = "sid : int32"

        @schema
        class Comp(dj.Computed):
            definition = "-> Src\n---\nvalue : int32"

            def make(self, key):
                self.insert1(dict(key, value=key["sid"]))

        Src.insert([{"sid": i} for i in range(n)])
        start = time.perf_counter()
        Comp.populate(display_progress=False, **kwargs)
        out[name] = (time.perf_counter() - start) * 1e3 / n
        assert len(Comp) == n, (name, len(Comp))
        schema.drop(prompt=False)
        conn.close()
    return out


def run_datajoint(python: str, n: int) -> dict[str, float] | str:
    if not Path(python).exists():
        return f"skipped: {python} not found"
    proc = subprocess.run([python, "-c", DJ_SCRIPT, str(n), json.dumps(MODES)],
                          capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        return "failed: " + proc.stderr.strip().splitlines()[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--datajoint", default="/work/venvs/dj235/bin/python")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            rows.append((f"joinflow {backend}", run_joinflow(backend, args.keys, Path(tmp))))
    dj = run_datajoint(args.datajoint, args.keys)
    print(f"populate of {args.keys} trivial keys, ms per key (lower is better); "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| implementation | " + " | ".join(MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    for name, res in rows:
        print(f"| {name} | " + " | ".join(f"{res[m]:.2f}" for m in MODES) + " |")
    if isinstance(dj, dict):
        print("| DataJoint 2.3.5 postgresql | " + " | ".join(f"{dj[m]:.2f}" for m in MODES) + " |")
        if "postgresql" in args.backends:
            jf = dict(rows)["joinflow postgresql"]
            print("\njoinflow speed-up on postgresql: " +
                  ", ".join(f"{m} {dj[m] / jf[m]:.1f}x" for m in MODES))
    else:
        print(f"\nDataJoint 2.3.5: {dj}")


if __name__ == "__main__":
    main()
