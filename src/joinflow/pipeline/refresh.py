"""``jobs.refresh()``: bring a jobs queue up to date with its table's ``key_source``.

* **added**: keys of ``key_source`` (restricted) that are neither made nor queued become
  ``pending`` jobs, in one ``INSERT ... SELECT`` (a concurrent refresh adding the same keys is
  harmless: clashes are skipped);
* **orphaned**: reservations whose worker is gone (its database session no longer exists; on
  SQLite, its process on this host no longer runs) and, given ``orphan_timeout``, those older
  than that many seconds go back to ``pending`` (as in DataJoint 2.3.5, a reservation is never
  taken back for its age alone without ``orphan_timeout``: a long ``make`` is not made twice);
* **removed**: success and error records whose keys left both ``key_source`` and the table,
  and jobs (but ``ignore``) older than ``stale_timeout`` whose keys left ``key_source``, are
  deleted (DataJoint 2.3.5's rule: a key may leave ``key_source`` for a moment);
* **re_pended**: ``success`` jobs (``jobs.keep_completed``) whose rows were deleted from the
  table go back to ``pending``.
"""
from __future__ import annotations

import socket

from ..backends.base import PH
from ..condition import Not
from ..table import FreeTable
from .jobs import Job, live_sessions, now_sql, offset_param, pid_alive


def refresh(job: Job, restrictions: tuple, *, delay: float = 0, priority: int | None = None,
            stale_timeout: float | None = None, orphan_timeout: float | None = None) -> dict:
    config = job.connection.config
    if priority is None:
        priority = int(config["jobs.default_priority"])
    removed = _remove_vanished(job, stale_timeout if stale_timeout is not None
                               else config["jobs.stale_timeout"])
    return {"added": _add_pending(job, restrictions, delay, priority),
            "removed": removed,
            "orphaned": _clear_orphans(job, orphan_timeout, priority),
            "re_pended": _re_pend(job, priority)}


def _pk(job: Job) -> list[str]:
    return list(job.key_attrs)


def _add_pending(job: Job, restrictions: tuple, delay: float, priority: int) -> int:
    conn, backend = job.connection, job.connection.backend
    queued = FreeTable(conn, f"{job.database}.{job.table_name}").proj()
    todo = job.target._pending(restrictions).proj()
    todo = todo.restrict(Not(queued), semantic_check=False)
    sub, sub_params = todo.compile()
    pk = _pk(job)
    q = backend.quote
    cols = ", ".join(q(c) for c in pk)
    sql = (f"INSERT INTO {job.full_table_name} ({cols}, {q('status')}, {q('priority')}, "
           f"{q('created_time')}, {q('scheduled_time')}) SELECT "
           f"{', '.join(f'_k.{q(c)}' for c in pk)}, {PH}, {PH}, {now_sql(conn)}, "
           f"{now_sql(conn, offset=True)} FROM ({sub}) AS _k")
    if backend.name == "sqlite":
        sql += " WHERE true"
    sql += backend.upsert_clause(job.full_table_name, pk, [])
    params = ["pending", priority, offset_param(backend.name, delay), *sub_params]
    return max(conn.query(sql, params).rowcount, 0)


def _matches(job: Job, alias: str) -> str:
    q = job.connection.backend.quote
    return " AND ".join(f"{alias}.{q(c)} = {job.full_table_name}.{q(c)}" for c in _pk(job))


def _remove_vanished(job: Job, stale_timeout: float | None) -> int:
    """Success and error records whose key left both ``key_source`` and the table, and jobs
    of any status but ``ignore`` older than ``stale_timeout`` (0: never) whose key left
    ``key_source``: at most two set-based DELETEs."""
    conn, q = job.connection, job.connection.backend.quote
    sub, params = job.target.key_source.proj().compile()
    gone = f"NOT EXISTS (SELECT 1 FROM ({sub}) AS _ks WHERE {_matches(job, '_ks')})"
    target = job.target.full_table_name
    sql = (f"DELETE FROM {job.full_table_name} WHERE {q('status')} IN ({PH}, {PH}) AND {gone} "
           f"AND NOT EXISTS (SELECT 1 FROM {target} AS _t WHERE {_matches(job, '_t')})")
    count = max(conn.query(sql, ["success", "error", *params]).rowcount, 0)
    if stale_timeout:
        sql = (f"DELETE FROM {job.full_table_name} WHERE {q('status')} <> {PH} AND "
               f"{q('created_time')} < {now_sql(conn, offset=True)} AND {gone}")
        count += max(conn.query(sql, ["ignore", offset_param(conn.backend.name,
                                                              -float(stale_timeout)),
                                      *params]).rowcount, 0)
    return count


def _re_pend(job: Job, priority: int) -> int:
    conn, q = job.connection, job.connection.backend.quote
    target = job.target.full_table_name
    sets, params = _fresh_pending(job, priority)
    sql = (f"UPDATE {job.full_table_name} SET {sets} WHERE {q('status')} = {PH} AND NOT EXISTS "
           f"(SELECT 1 FROM {target} AS _t WHERE {_matches(job, '_t')})")
    return max(conn.query(sql, [*params, "success"]).rowcount, 0)


def _fresh_pending(job: Job, priority: int) -> tuple[str, list]:
    """SET clause and parameters making a job a new pending one, as DataJoint 2.3.5 re-adds
    it (a re-pended or orphaned job forgets its worker, times, duration and error)."""
    q, now = job.connection.backend.quote, now_sql(job.connection)
    values: dict = {"status": "pending", "priority": int(priority), "duration": None,
                    "error_message": "", "error_stack": None, "user": "", "host": "",
                    "pid": 0, "connection_id": 0, "version": ""}
    sets = [f"{q(c)} = {PH}" for c in values]
    sets += [f"{q('created_time')} = {now}", f"{q('scheduled_time')} = {now}",
             f"{q('reserved_time')} = NULL", f"{q('completed_time')} = NULL"]
    return ", ".join(sets), list(values.values())


def _clear_orphans(job: Job, timeout: float | None, priority: int) -> int:
    conn, q = job.connection, job.connection.backend.quote
    count = 0
    sets, fresh = _fresh_pending(job, priority)
    if timeout is not None and timeout > 0:
        sql = (f"UPDATE {job.full_table_name} SET {sets} WHERE "
               f"{q('status')} = {PH} AND {q('reserved_time')} < "
               f"{now_sql(conn, offset=True)}")
        count += max(conn.query(sql, [*fresh, "reserved",
                                      offset_param(conn.backend.name, -timeout)]).rowcount, 0)
    pk = _pk(job)
    rows = (job & {"status": "reserved"}).proj("connection_id", "pid", "host").to_dicts()
    if not rows:
        return count
    live = live_sessions(conn)
    host = socket.gethostname()
    for row in rows:
        if _worker_alive(row, live, host):
            continue
        where, kparams = job._key_where({k: row[k] for k in pk})
        sql = (f"UPDATE {job.full_table_name} SET {sets} WHERE {where} AND {q('status')} = {PH} "
               f"AND {q('connection_id')} = {PH} AND {q('pid')} = {PH}")
        count += max(conn.query(sql, [*fresh, *kparams, "reserved", row["connection_id"],
                                      row["pid"]]).rowcount, 0)
    return count


def _worker_alive(row: dict, live: set[int] | None, host: str) -> bool:
    if live is not None and row["connection_id"]:
        return int(row["connection_id"]) in live
    if row["host"] != host:
        return True  # another machine's process: only the timeout can tell
    return pid_alive(int(row["pid"]))
