"""The ``hub_replica`` table: the hub processes serving now, and the policy each one holds.

Every replica (one ``ketenhub serve`` process) writes its row when it starts and again every
:data:`hub.policy.replicas.HEARTBEAT` seconds (:mod:`hub.policy.replicas`): where it runs
(``host``, ``pid``), when it started, the hash of the sharing policy it loaded and when it loaded
it, and when it was last seen. The policy pages show every live replica, so an administrator sees
at once whether every replica decides by the same policy. A row unseen for five minutes is a
replica that is gone; one unseen for a day is deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class HubReplica(SQLModel, table=True):
    __tablename__ = "hub_replica"

    replica_id: str = Field(primary_key=True, max_length=36)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    policy_hash: str = Field(max_length=80)
    policy_loaded_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_seen_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
