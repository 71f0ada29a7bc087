"""Readiness: can this replica serve requests, and with which keys?

Each check really exercises its dependency: a round trip to the database plus its schema
revision, a signed request to the object store, and a read of the key file. The report also
names the key ids in force, so replicas that disagree after a rotation are visible.

``/readyz`` answers without a token, so what it says is for anyone who can reach it: which
checks failed, the key ids and the policy hash (DESIGN.md), and never why a check failed. A
reason can name a file path, a bucket, a host or a schema revision; it goes to the log, where
the operator looks anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy.exc import SQLAlchemyError

from hub.core import db
from hub.runtime import Services
from storage.errors import StorageError

logger = logging.getLogger(__name__)

FAILED: Final = "failed; the reason is in the log"
"""What ``/readyz`` says of a failed check whose reason could reveal the deployment."""


@dataclass(slots=True)
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    policy_hash: str | None = None

    @property
    def ready(self) -> bool:
        return not self.failures


class _NotReady(Exception):
    """A dependency answered, but not as it must: ``public`` is a fixed phrase for the answer,
    the message (which may name revisions or files) is for the log."""

    def __init__(self, public: str, detail: str) -> None:
        super().__init__(detail)
        self.public = public


def _database(services: Services) -> None:
    db.ping(services.engine)
    current, head = db.current_revision(services.engine), db.head_revision()
    if current != head:
        raise _NotReady(
            "the schema is not the one this code expects; run migrations",
            f"schema at {current or 'nothing'}, code expects {head}",
        )


def check(services: Services) -> Readiness:
    """Run every check; never raises. A failure is answered as :data:`FAILED`, its reason
    logged (it may name paths or hosts, which the unauthenticated answer must not)."""
    result = Readiness()
    probes: dict[str, Callable[[], None]] = {
        "database": lambda: _database(services),
        "object_store": services.store.check,
        "key_ring": services.keys.check,
        "audit_keys": lambda: _audit_key(services, result),
        "policy": lambda: _policy(services, result),
    }
    for name, probe in probes.items():
        try:
            probe()
        except _NotReady as exc:
            logger.warning("readiness: %s check failed: %s", name, exc)
            result.failures[name] = exc.public
        except (LookupError, StorageError) as exc:
            logger.warning("readiness: %s check failed: %s: %s", name, type(exc).__name__, exc)
            result.failures[name] = FAILED
        except SQLAlchemyError as exc:
            # SQLAlchemy's message can quote the connection's host and user: not even the log.
            logger.warning("readiness: %s check failed: %s", name, type(exc).__name__)
            result.failures[name] = "the database cannot be reached"
        else:
            result.checks[name] = "ok"
    if "key_ring" not in result.failures:
        result.key_ids["kek"] = services.keys.current_kek_id()
    return result


def _policy(services: Services, result: Readiness) -> None:
    try:
        result.policy_hash = services.policy.hash
    except RuntimeError as exc:
        raise _NotReady(FAILED, str(exc)) from None


def _audit_key(services: Services, result: Readiness) -> None:
    """The checkpoint key unseals (so receipts and checkpoints can be signed); its id."""
    verifier = services.audit.signer.verifier()
    result.key_ids["audit"] = f"{verifier.name}+{verifier.key_id:08x}"
