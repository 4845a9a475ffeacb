"""DataJoint's query cache: ``conn.set_query_cache("name")`` serves every SELECT from a file
under ``dj.config['query_cache']`` (written on first execution) and refuses statements that
would change the database, until ``conn.set_query_cache()`` turns it off;
``conn.purge_query_cache()`` deletes the cached results.

Results are stored as JSON with tagged values (bytes, dates, decimals, UUIDs keep their exact
Python types), never pickled, so a cache folder holds data only. A file is written to a
temporary name and moved into place, so a reader never sees half a file."""
from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

from . import errors

SUFFIX = ".jfquery.json"
_READ = re.compile(r"^\s*\(*\s*(SELECT|SHOW)\b", re.IGNORECASE)


def check_read_only(sql: str) -> None:
    if not _READ.match(sql):
        raise errors.JoinflowError(
            "Only SELECT queries are allowed when query caching is on: call "
            f"conn.set_query_cache() to turn it off before running {sql.split(None, 1)[0]!r}")


def folder(config: Any) -> Path:
    where = config["query_cache"]
    if not where:
        raise errors.ConfigError("Provide a folder in dj.config['query_cache'] when using query "
                                 "caching")
    return Path(os.path.expanduser(str(where)))


def path_for(base: Path, cache_name: str, target: str, sql: str, params: Any) -> Path:
    """The file of one result: a hash of the cache name, the server, the SQL and its
    parameters."""
    text = json.dumps([cache_name, target, sql, [_encode(p) for p in params or ()]])
    return base / (hashlib.sha256(text.encode()).hexdigest()[:40] + SUFFIX)


def load(path: Path) -> tuple[list[str] | None, list[tuple]] | None:
    """(column names, rows) of a cached result, None when there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    rows = [tuple(_decode(v) for v in r) for r in data["rows"]]
    return data["names"], rows


def save(path: Path, names: list[str] | None, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"names": names, "rows": [[_encode(v) for v in r] for r in rows]})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def purge(base: Path) -> int:
    """Delete the cached results in ``base`` (only files this module wrote); their count."""
    count = 0
    if base.is_dir():
        for path in base.glob("*" + SUFFIX):
            path.unlink(missing_ok=True)
            count += 1
    return count


# -- values: JSON, with a one-key tag object for what JSON cannot hold exactly -------------------
def _encode(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else {"float": repr(v)}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"bytes": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, dt.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, dt.time):
        return {"time": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"timedelta": [v.days, v.seconds, v.microseconds]}
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, uuid.UUID):
        return {"uuid": v.hex}
    if isinstance(v, (list, dict)):  # JSON columns decoded by the driver
        return {"json": v}
    if isinstance(v, tuple):
        return {"tuple": [_encode(x) for x in v]}
    raise errors.JoinflowError(f"the query cache cannot store a value of type "
                               f"{type(v).__name__}")


_DECODE: dict[str, Any] = {
    "float": float,
    "bytes": base64.b64decode,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda x: dt.timedelta(days=x[0], seconds=x[1], microseconds=x[2]),
    "decimal": decimal.Decimal,
    "uuid": uuid.UUID,
    "json": lambda x: x,
    "tuple": lambda x: tuple(_decode(y) for y in x),
}


def _decode(v: Any) -> Any:
    if isinstance(v, dict):
        (tag, payload), = v.items()
        return _DECODE[tag](payload)
    return v
