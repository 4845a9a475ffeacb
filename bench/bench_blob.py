"""Benchmark blob pack/unpack against plain numpy copies, np.save/np.load and pickle.

    .venv/bin/python bench/bench_blob.py [--mb 100] [--repeat 5]

Prints markdown tables: best-of-N wall time per operation and its ratio to the baseline
(``arr.copy()`` for encoding, ``np.frombuffer(...).copy()`` for decoding).  Pickle appears
here only as a yardstick; the blob codec never uses it.
"""
from __future__ import annotations

import argparse
import io
import pickle
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from joinflow.codecs.blob import pack_buffer, pack, unpack


def best_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def np_save(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr)
    return buffer.getvalue()


def table(title: str, rows: list[tuple[str, float]], baseline: str, mb: float) -> str:
    base = dict(rows)[baseline]
    lines = [f"### {title}", "", "| operation | ms | × baseline | GB/s |", "|---|---:|---:|---:|"]
    for name, ms in rows:
        rate = f"{mb / ms:.2f}" if mb else ""
        lines.append(f"| {name} | {ms:.1f} | {ms / base:.2f} | {rate} |")
    return "\n".join(lines) + "\n"


def large_array(arr: np.ndarray, label: str, repeat: int) -> str:
    mb = arr.nbytes / 1e6
    blob, saved, pickled = pack(arr, compress=False), np_save(arr), pickle.dumps(arr, protocol=5)
    raw = arr.tobytes(order="F")
    encode = [
        ("arr.copy() (baseline)", best_ms(arr.copy, repeat)),
        ("arr.tobytes() (cost of any new 100 MB bytes)", best_ms(arr.tobytes, repeat)),
        ("pack(arr, compress=False)", best_ms(lambda: pack(arr, compress=False), repeat)),
        ("pack(arr) (compress='auto')", best_ms(lambda: pack(arr), repeat)),
        ("pack_buffer(arr) (what <blob> stores)", best_ms(lambda: pack_buffer(arr), repeat)),
        ("np.save → BytesIO", best_ms(lambda: np_save(arr), repeat)),
        ("pickle.dumps(protocol=5)", best_ms(lambda: pickle.dumps(arr, protocol=5), repeat)),
    ]
    decode = [
        ("np.frombuffer(raw).copy() (baseline)", best_ms(lambda: np.frombuffer(raw, arr.dtype).copy(), repeat)),
        ("unpack(blob)", best_ms(lambda: unpack(blob), repeat)),
        ("np.load ← BytesIO", best_ms(lambda: np.load(io.BytesIO(saved)), repeat)),
        ("pickle.loads", best_ms(lambda: pickle.loads(pickled), repeat)),
    ]
    assert np.array_equal(unpack(blob), arr)
    return (table(f"Encode {label}", encode, "arr.copy() (baseline)", mb) + "\n"
            + table(f"Decode {label}", decode, "np.frombuffer(raw).copy() (baseline)", mb))


def nested_value(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {f"unit{i}": {"spikes": rng.random(20), "id": i, "label": f"cell {i}",
                         "window": (0.5, 1.5), "tags": ["good", "v1"]} for i in range(n)}


def nested(repeat: int, n: int = 2000) -> str:
    value = nested_value(n)
    blob, pickled = pack(value, compress=False), pickle.dumps(value, protocol=5)
    rows = [
        ("pickle.dumps (baseline)", best_ms(lambda: pickle.dumps(value, protocol=5), repeat)),
        ("pack(compress=False)", best_ms(lambda: pack(value, compress=False), repeat)),
        ("pack (compress='auto')", best_ms(lambda: pack(value), repeat)),
        ("pickle.loads", best_ms(lambda: pickle.loads(pickled), repeat)),
        ("unpack", best_ms(lambda: unpack(blob), repeat)),
    ]
    title = f"Nested dict of {n} records × 5 small fields ({len(blob) / 1e3:.0f} kB blob)"
    return table(title, rows, "pickle.dumps (baseline)", 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="size of the large array in MB")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args()
    n = int(args.mb * 1e6) // 8
    arr = np.random.default_rng(0).random(n)
    rows, cols = 2500, n // 2500
    print(f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"best of {args.repeat}\n")
    print(large_array(arr, f"{arr.nbytes / 1e6:.0f} MB float64, 1-D", args.repeat))
    print(large_array(arr[:rows * cols].reshape(rows, cols), f"{rows}×{cols} float64, C order",
                      args.repeat))
    print(nested(args.repeat))


if __name__ == "__main__":
    main()
