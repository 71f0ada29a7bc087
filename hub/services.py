"""The long-lived objects a running hub needs, built once from settings.

Nothing connects at import time. ``build_services`` makes the engine, object store and key ring
from :class:`~hub.config.Settings`; the app's lifespan and the CLI both call it, and request
handlers receive the result through dependencies (see :mod:`hub.deps`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from hub import db
from hub.config import Settings
from hub.vault import repository as vault_repository
from hub.vault.service import Vault
from storage.keys import LocalKeyRing
from storage.objects import FilesystemStore, ObjectStore, S3Store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: Engine
    store: ObjectStore
    keys: LocalKeyRing
    vault: Vault

    def close(self) -> None:
        self.engine.dispose()


def build_object_store(settings: Settings) -> ObjectStore:
    s3 = settings.s3_connection
    if s3 is None:
        return FilesystemStore(settings.storage_path)
    return S3Store(
        endpoint=s3.endpoint,
        access_key=s3.access_key.get_secret_value(),
        secret_key=s3.secret_key.get_secret_value(),
        bucket=s3.bucket,
        region=s3.region,
    )


def open_key_ring(settings: Settings) -> LocalKeyRing:
    return LocalKeyRing(settings.resolved_key_file, wrap_limit=settings.kek_wrap_limit)


def build_services(settings: Settings) -> Services:
    """Build everything; loads the key ring (it must exist) but opens no connection."""
    engine = db.make_engine(settings.resolved_database_url)
    keys = open_key_ring(settings)
    store = build_object_store(settings)
    return Services(settings, engine, store, keys, Vault(store=store, keys=keys))


def seed_wrap_counts(services: Services) -> None:
    """Load the per-KEK wrap counts from the database into the key ring."""
    with db.transaction(services.engine) as session:
        services.keys.seed_wrap_counts(vault_repository.wrap_counts(session))
