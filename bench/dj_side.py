"""DataJoint 2.3.5's side of bench/bench_compare.py: run in DataJoint's own virtual environment
(never imported by joinflow). Reads one JSON argument (connection and workload sizes), runs
bench/workloads.py with ``import datajoint as dj`` in a fresh schema, drops it, and prints one
JSON line per workload: ``{"workload": name, "seconds": s, "cpu": client CPU s}``."""
from __future__ import annotations

import json
import sys
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")

import datajoint as dj  # noqa: E402

import workloads  # noqa: E402


def main() -> None:
    args = json.loads(sys.argv[1])
    dj.config["database.backend"] = args["backend"]
    dj.config["database.host"] = args["host"]
    dj.config["database.port"] = args["port"]
    dj.config["database.user"] = args["user"]
    dj.config["database.password"] = args["password"] or ""
    dj.config["database.use_tls"] = False
    dj.config["safemode"] = False
    dj.config["loglevel"] = "WARNING"
    schema = dj.Schema(f"djbench_{uuid.uuid4().hex[:8]}")
    try:
        workloads.run(dj, schema, **args["sizes"],
                      report=lambda name, s: print(json.dumps(
                          {"workload": name, "seconds": s, "cpu": workloads.CPU[-1]}), flush=True))
    finally:
        schema.drop(prompt=False)


if __name__ == "__main__":
    main()
