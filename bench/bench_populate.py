"""populate() of N trivial keys: milliseconds per key, joinflow against DataJoint 2.3.5.

    .venv/bin/python bench/bench_populate.py [--keys 10000] [--repeats 2]
        [--backends sqlite,postgresql,mysql] [--dj-backends postgresql,mysql]
        [--datajoint /work/venvs/dj235/bin/python] [--cpu-keys 200 --cpu-ms 20]

Three modes per backend, each on a fresh schema: one process (``populate()``), the jobs queue
(``populate(reserve_jobs=True)``, refresh included) and two processes
(``populate(reserve_jobs=True, processes=2)``). DataJoint 2.3.5 runs the same three modes in a
subprocess of the given interpreter (skipped, with a message, when absent), interleaved with
joinflow's runs: each repeat runs joinflow then DataJoint per backend, and the best of the
repeats is reported, so the ratios compare runs under the same machine load.

``--cpu-keys`` adds the scaling check: a ``make`` that burns ``--cpu-ms`` of CPU, populated
with ``reserve_jobs`` by one process and by two (PostgreSQL and MySQL; on SQLite a ``make``
holds the database's single write lock, so CPU-bound work belongs in a tripartite make).
Servers: PostgreSQL 127.0.0.1:5432 (postgres), MariaDB/MySQL 127.0.0.1:3306 (root).
Prints markdown tables.
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
CPU_MODES = {"cpu 1 process": {"reserve_jobs": True},
             "cpu 2 processes": {"reserve_jobs": True, "processes": 2}}


def burn(ms: float) -> int:
    """Spin the CPU for ``ms`` milliseconds of process time."""
    end, x = time.process_time() + ms / 1e3, 0
    while time.process_time() < end:
        x += sum(range(200))
    return x


def raw_scaling(keys: int, ms: float) -> float:
    """The machine's own 2-process speed-up for the same CPU work without any database:
    ``keys`` burns of ``ms`` in one process, then split over two forked processes."""
    import multiprocessing
    start = time.perf_counter()
    for _ in range(keys):
        burn(ms)
    one = time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(2) as pool:
        start = time.perf_counter()
        pool.map(burn, [ms] * keys, chunksize=1)
        two = time.perf_counter() - start
    return one / two


DJ_SCRIPT = r"""
import json, sys, time, uuid
import datajoint as dj
backend, n, cpu_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[4])
pg = backend == "postgresql"
settings = {"database.host": "127.0.0.1", "database.port": 5432 if pg else 3306,
            "database.user": "postgres" if pg else "root", "database.password": "",
            "safemode": False}
if pg:
    settings["database.backend"] = "postgresql"
for k, v in settings.items():
    dj.config[k] = v

def burn(ms):
    end, x = time.process_time() + ms / 1e3, 0
    while time.process_time() < end:
        x += sum(range(200))
    return x

modes = json.loads(sys.argv[3])
out = {}
for name, kwargs in modes.items():
    schema = dj.Schema("benchdj_" + uuid.uuid4().hex[:8])
    cpu = name.startswith("cpu")
    @schema
    class Src(dj.Manual):
        definition = "sid : int32"
    @schema
    class Comp(dj.Computed):
        definition = "-> Src\n---\nvalue : int32"
        def make(self, key):
            if cpu:
                burn(cpu_ms)
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


def run_joinflow(backend: str, n: int, workdir: Path, modes: dict,
                 cpu_ms: float = 0) -> dict[str, float]:
    import joinflow as dj
    out = {}
    for name, kwargs in modes.items():
        conn = connect(backend, workdir / f"{uuid.uuid4().hex[:8]}.db")
        schema = dj.Schema("benchjf_" + uuid.uuid4().hex[:8], connection=conn)
        work = cpu_ms if name.startswith("cpu") else 0

        @schema
        class Src(dj.Manual):
            definition = "sid : int32"

        @schema
        class Comp(dj.Computed):
            definition = "-> Src\n---\nvalue : int32"
            cpu = work

            def make(self, key):
                if self.cpu:
                    burn(self.cpu)
                self.insert1(dict(key, value=key["sid"]))

        Src.insert([{"sid": i} for i in range(n)])
        start = time.perf_counter()
        Comp.populate(display_progress=False, **kwargs)
        out[name] = (time.perf_counter() - start) * 1e3 / n
        assert len(Comp) == n, (name, len(Comp))
        schema.drop(prompt=False)
        conn.close()
    return out


def run_datajoint(python: str, backend: str, n: int, modes: dict,
                  cpu_ms: float = 0) -> dict[str, float] | str:
    if not Path(python).exists():
        return f"skipped: {python} not found"
    proc = subprocess.run([python, "-c", DJ_SCRIPT, backend, str(n), json.dumps(modes),
                           str(cpu_ms)], capture_output=True, text=True, timeout=3600,
                          check=False)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        return "failed: " + lines[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(runs: list) -> dict[str, float] | str:
    good = [r for r in runs if isinstance(r, dict)]
    if not good:
        return runs[-1]
    return {m: min(r[m] for r in good) for m in good[0]}


def table(title: str, rows: list, modes: dict) -> None:
    print(f"\n{title}\n")
    print("| implementation | " + " | ".join(modes) + " |")
    print("|---|" + "---|" * len(modes))
    for name, res in rows:
        if isinstance(res, dict):
            print(f"| {name} | " + " | ".join(f"{res[m]:.2f}" for m in modes) + " |")
        else:
            print(f"| {name} | {res} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--dj-backends", default="postgresql,mysql")
    parser.add_argument("--datajoint", default="/work/venvs/dj235/bin/python")
    parser.add_argument("--cpu-keys", type=int, default=0)
    parser.add_argument("--cpu-ms", type=float, default=20.0)
    args = parser.parse_args()
    backends = args.backends.split(",")
    dj_backends = [b for b in args.dj_backends.split(",") if b in backends and b != "sqlite"]
    runs: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for backend in backends:  # interleaved: joinflow, then DataJoint, per backend
                runs.setdefault(f"joinflow {backend}", []).append(
                    run_joinflow(backend, args.keys, Path(tmp), MODES))
                if backend in dj_backends:
                    runs.setdefault(f"DataJoint 2.3.5 {backend}", []).append(
                        run_datajoint(args.datajoint, backend, args.keys, MODES))
                if args.cpu_keys and backend != "sqlite":
                    runs.setdefault("raw", []).append(raw_scaling(args.cpu_keys, args.cpu_ms))
                    runs.setdefault(f"cpu joinflow {backend}", []).append(run_joinflow(
                        backend, args.cpu_keys, Path(tmp), CPU_MODES, args.cpu_ms))
                    if backend in dj_backends:
                        runs.setdefault(f"cpu DataJoint 2.3.5 {backend}", []).append(
                            run_datajoint(args.datajoint, backend, args.cpu_keys, CPU_MODES,
                                          args.cpu_ms))
    raw = runs.pop("raw", [])
    results = {name: best(r) for name, r in runs.items()}
    print(f"populate of {args.keys} trivial keys, ms per key (lower is better), best of "
          f"{args.repeats}; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    table("Trivial make:", [(k, v) for k, v in results.items() if not k.startswith("cpu")],
          MODES)
    for backend in dj_backends:
        jf, dj = results.get(f"joinflow {backend}"), results.get(f"DataJoint 2.3.5 {backend}")
        if isinstance(jf, dict) and isinstance(dj, dict):
            print(f"\njoinflow speed-up over DataJoint on {backend}: " +
                  ", ".join(f"{m} {dj[m] / jf[m]:.2f}x" for m in MODES))
    if args.cpu_keys:
        cpu = [(k[4:], v) for k, v in results.items() if k.startswith("cpu ")]
        table(f"CPU-bound make ({args.cpu_ms:g} ms of CPU per key, {args.cpu_keys} keys):",
              cpu, CPU_MODES)
        for name, res in cpu:
            if isinstance(res, dict):
                print(f"{name}: 2 processes are "
                      f"{res['cpu 1 process'] / res['cpu 2 processes']:.2f}x one process")
        print("the same CPU work without a database, 2 processes vs 1 (what the machine "
              "gives now): " + ", ".join(f"{r:.2f}x" for r in raw))


if __name__ == "__main__":
    main()
