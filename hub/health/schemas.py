"""Response bodies of the operational probes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Liveness(BaseModel):
    status: Literal["ok"]


class ReadinessReport(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str] = Field(description="Each dependency checked, with its result")
    key_ids: dict[str, str] = Field(
        description="Ids of the keys in force on this replica, to spot replicas that disagree"
    )
    policy_hash: str | None = Field(
        description="sha256 of the sharing policy file this replica loaded"
    )
