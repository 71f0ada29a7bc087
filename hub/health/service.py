"""Readiness: can this replica serve requests, and with which keys?

Each check really exercises its dependency: a round trip to the database plus its schema
revision, a signed request to the object store, and a read of the key file. The report also
names the key ids in force, so replicas that disagree after a rotation are visible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from hub.core import db
from hub.runtime import Services
from storage.errors import StorageError

logger = logging.getLogger(__name__)


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
    """A dependency answered, but not as it must."""


def _database(services: Services) -> None:
    db.ping(services.engine)
    current, head = db.current_revision(services.engine), db.head_revision()
    if current != head:
        raise _NotReady(f"schema at {current or 'nothing'}, code expects {head}; run migrations")


def check(services: Services) -> Readiness:
    """Run every check; never raises. Failure reasons carry no secrets or connection strings."""
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
            result.failures[name] = str(exc)
        except LookupError as exc:
            result.failures[name] = str(exc)
        except SQLAlchemyError as exc:
            # SQLAlchemy's message can quote the connection's host and user: log, don't answer.
            logger.warning("readiness: database check failed: %s", type(exc).__name__)
            result.failures[name] = "the database cannot be reached"
        except StorageError as exc:
            logger.warning("readiness: %s check failed: %s", name, exc)
            result.failures[name] = f"{type(exc).__name__}: {exc}"
        else:
            result.checks[name] = "ok"
    if "key_ring" not in result.failures:
        result.key_ids["kek"] = services.keys.current_kek_id()
    return result


def _policy(services: Services, result: Readiness) -> None:
    try:
        result.policy_hash = services.policy.hash
    except RuntimeError as exc:
        raise _NotReady(str(exc)) from None


def _audit_key(services: Services, result: Readiness) -> None:
    """The checkpoint key unseals (so receipts and checkpoints can be signed); its id."""
    verifier = services.audit.signer.verifier()
    result.key_ids["audit"] = f"{verifier.name}+{verifier.key_id:08x}"
