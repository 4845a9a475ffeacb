"""Pipelines at scale: the jobs queue of auto-populated tables and the workers that drain it.

``Table.jobs`` is a :class:`Job` (the table's ``~~name`` queue); ``populate(reserve_jobs=True)``
and ``populate(processes=n)`` run through :mod:`.runner`; ``joinflow worker`` (:mod:`.worker`)
runs ``populate(reserve_jobs=True)`` in a loop."""
from __future__ import annotations

from .jobs import STATUSES, Job, jobs_table_name

__all__ = ["STATUSES", "Job", "jobs_table_name"]
