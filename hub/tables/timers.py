"""The ``timer_lease`` table: one row per periodic job, so it runs once per interval in all.

A hub runs as several worker processes (``ketenhub serve --workers N``) and often as several
replicas; every process ticks every timer, but a job such as retention or the idempotency-key
sweep should run once per interval across all of them, not once per process. At each tick a
process claims the job's row with one atomic ``UPDATE ... WHERE last_run_at <= now - interval``
(:mod:`hub.core.timers`); only the process whose update matched runs the job, and its update
sets ``last_run_at`` to now. A holder that crashes holds nothing: once an interval has passed,
the next tick of any process claims the row. The interval is the claimer's own setting, not
stored, so a shortened interval applies at once. ``holder`` (host and pid) and ``runs`` say who
ran the job last and how often it ran: for operators, and for the tests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class TimerLease(SQLModel, table=True):
    __tablename__ = "timer_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    last_run_at: datetime = Field(sa_type=DateTime(timezone=True))
    runs: int = Field(default=0)
