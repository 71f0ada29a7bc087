"""Exporting signed checkpoints outside the database: a directory, or S3 with object lock.

The S3 tests run an in-process hub (on each kind of database) that exports to Ceph RGW, sign a
checkpoint, and read the exported note back through a separate client. Their buckets hold
records under a day's COMPLIANCE retention, so they are named ``khworm-*`` and left for the
sweep in ``tests/storage/test_worm.py`` (nobody can delete them sooner).
"""

from __future__ import annotations

import logging
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from audit import checkpoints
from audit.checkpoints import SignedCheckpoint
from hub.config import Environment, Settings
from hub.trail.checkpoint_export import (
    DirectoryExport,
    S3Export,
    build_export,
    export_name,
)
from storage.objects import ObjectLockMissing, S3WriteOnce
from tests.fixtures.oauth import Hub, hub_settings, start_hub
from tests.fixtures.stores import S3Server, require_reachable

NOTE = "ketenhub.example.nl/audit\n7\nq3Ew0mCjwnVAYdlZVyb7Hmk7Fv1k1m5tKXgfTbrkjAs=\n\n— sig\n"


def signed(tree_size: int = 7, note: str = NOTE) -> SignedCheckpoint:
    return SignedCheckpoint(
        tree_size=tree_size,
        root_hash=bytes(32),
        note=note,
        key_name="ketenhub.example.nl/audit+00000000",
        signed_at="2026-01-01T00:00:00.000000Z",
    )


# -- a directory ---------------------------------------------------------------------------


def test_a_directory_export_writes_a_read_only_file(tmp_path: Path) -> None:
    export = DirectoryExport(tmp_path / "checkpoints")

    export.write(signed(7))

    path = tmp_path / "checkpoints" / "00000000000000000007.checkpoint"
    assert path.read_text("utf-8") == NOTE
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_directory_export_never_overwrites(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    export = DirectoryExport(tmp_path)
    export.write(signed(7))

    export.write(signed(7))  # a retried export
    with caplog.at_level(logging.WARNING):
        export.write(signed(7, note=NOTE.replace("q3", "Q3")))

    assert (tmp_path / export_name(7)).read_text("utf-8") == NOTE
    assert "exists with other content" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == [export_name(7)]


def test_each_checkpoint_gets_its_own_file(tmp_path: Path) -> None:
    export = DirectoryExport(tmp_path)

    export.write(signed(7))
    export.write(signed(12, note=NOTE.replace("\n7\n", "\n12\n")))

    assert sorted(p.name for p in tmp_path.iterdir()) == [export_name(7), export_name(12)]


# -- choosing the export -------------------------------------------------------------------


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(environment=Environment.DEVELOPMENT, data_dir=tmp_path, **values)


def s3_values(server: S3Server) -> dict[str, Any]:
    return {
        "s3_endpoint": server.endpoint,
        "s3_access_key": SecretStr(server.access_key),
        "s3_secret_key": SecretStr(server.secret_key),
    }


def test_the_default_export_is_a_directory_in_the_data_dir(tmp_path: Path) -> None:
    export = build_export(settings(tmp_path))

    assert isinstance(export, DirectoryExport)
    assert export.directory == tmp_path / "audit-checkpoints"


def test_an_s3_url_builds_an_object_lock_export(tmp_path: Path) -> None:
    export = build_export(
        settings(
            tmp_path,
            audit_export_url="s3://audit-checkpoints/ketenhub/prod/",
            s3_endpoint="https://s3.example.nl",
            s3_access_key=SecretStr("key"),
            s3_secret_key=SecretStr("secret"),
        )
    )

    assert isinstance(export, S3Export)
    assert export.describe() == (
        "s3://audit-checkpoints/ketenhub/prod (object lock, COMPLIANCE, 3650 days)"
    )
    assert "secret" not in export.describe() + repr(export.target)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("s3_endpoint", "KETENHUB_S3_ENDPOINT"),
        ("s3_access_key", "KETENHUB_S3_ACCESS_KEY"),
        ("s3_secret_key", "KETENHUB_S3_SECRET_KEY"),
    ],
)
def test_an_s3_export_without_its_connection_settings_is_refused(
    tmp_path: Path, missing: str, named: str
) -> None:
    values: dict[str, Any] = {
        "s3_endpoint": "https://s3.example.nl",
        "s3_access_key": SecretStr("key"),
        "s3_secret_key": SecretStr("secret"),
    }
    del values[missing]

    # Refused when the settings load, before anything is built.
    with pytest.raises(ValueError, match=named):
        build_export(settings(tmp_path, audit_export_url="s3://audit-checkpoints", **values))


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3://audit?versioning=off",
        "s3://ab/prefix",
        "s3://audit-checkpoints/../escape",
        "https://s3.example.nl/audit",
    ],
)
def test_an_unusable_export_url_is_refused(tmp_path: Path, url: str) -> None:
    # The settings refuse malformed URLs; build_export what only it checks (bucket, prefix).
    with pytest.raises(ValueError, match="KETENHUB_AUDIT_EXPORT_URL"):
        build_export(
            settings(
                tmp_path,
                audit_export_url=url,
                s3_endpoint="https://s3.example.nl",
                s3_access_key=SecretStr("key"),
                s3_secret_key=SecretStr("secret"),
            )
        )


# -- a hub exporting to S3 (Ceph RGW) ------------------------------------------------------


@pytest.fixture
def ceph() -> S3Server:
    server = S3Server.from_environment("ceph")
    require_reachable(server)
    return server


def start_exporting_hub(
    tmp_path: Path, database_url: str, server: S3Server, bucket: str
) -> Iterator[Hub]:
    return start_hub(
        hub_settings(
            tmp_path,
            database_url,
            client_secret_auth=True,
            audit_export_url=f"s3://{bucket}/checkpoints",
            audit_export_retention_days=1,
            **s3_values(server),
        )
    )


@pytest.fixture
def exporting_hub(tmp_path: Path, fresh_database_url: str, ceph: S3Server) -> Iterator[Hub]:
    """A hub on each kind of database whose checkpoints go to a fresh locked bucket on Ceph."""
    yield from start_exporting_hub(
        tmp_path, fresh_database_url, ceph, f"khworm-{secrets.token_hex(6)}"
    )


def reader(hub: Hub, server: S3Server) -> S3WriteOnce:
    """A client of its own on the export bucket, as an operator or auditor would use."""
    export = hub.services.audit.export
    assert isinstance(export, S3Export)
    return S3WriteOnce(
        endpoint=server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        bucket=export.target.bucket,
        prefix="checkpoints",
        retention_days=1,
    )


def database_note(hub: Hub) -> SignedCheckpoint:
    with hub.services.engine.connect() as connection:
        row = checkpoints.latest(connection)
    assert row is not None
    return row


@pytest.mark.s3
def test_a_new_checkpoint_is_exported_to_s3_as_the_database_holds_it(
    exporting_hub: Hub, ceph: S3Server
) -> None:
    hub = exporting_hub
    hub.token(hub.register())  # something to checkpoint: the token issue is audited

    made = hub.services.audit.checkpoint_now()

    assert made is not None
    row = database_note(hub)
    assert row.tree_size == made.tree_size
    exported = reader(hub, ceph).read(export_name(row.tree_size))
    assert exported.decode("utf-8") == row.note


@pytest.mark.s3
def test_every_new_checkpoint_is_exported_once(exporting_hub: Hub, ceph: S3Server) -> None:
    hub = exporting_hub
    client = hub.register()
    hub.token(client)
    first = hub.services.audit.checkpoint_now()
    assert hub.services.audit.checkpoint_now() == first  # nothing new: nothing signed
    hub.token(client)
    second = hub.services.audit.checkpoint_now()

    assert first is not None
    assert second is not None
    assert second.tree_size > first.tree_size
    bucket = reader(hub, ceph)
    for made in (first, second):
        assert bucket.read(export_name(made.tree_size)).decode("utf-8") == made.note
    listed = ceph.admin().list_objects(
        bucket.bucket, prefix="checkpoints/", include_version=True, recursive=True
    )
    assert sorted(obj.object_name for obj in listed) == [
        f"checkpoints/{export_name(first.tree_size)}",
        f"checkpoints/{export_name(second.tree_size)}",
    ]


@pytest.mark.s3
def test_an_export_bucket_without_object_lock_loses_no_checkpoint(
    tmp_path: Path, fresh_database_url: str, ceph: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = f"khtest-{secrets.token_hex(6)}"
    admin = ceph.admin()
    admin.make_bucket(bucket)  # an ordinary bucket, pre-created by mistake
    try:
        for hub in start_exporting_hub(tmp_path, fresh_database_url, ceph, bucket):
            with pytest.raises(ObjectLockMissing, match="has no object lock"):
                hub.services.audit.export.ensure_ready()  # type: ignore[union-attr]
            hub.token(hub.register())

            with caplog.at_level(logging.ERROR):
                made = hub.services.audit.checkpoint_now()

            assert made is not None
            assert database_note(hub).note == made.note  # the checkpoint stands
            assert "has no object lock" in caplog.text  # and the failed export is reported
            assert list(admin.list_objects(bucket, recursive=True)) == []
    finally:
        admin.remove_bucket(bucket)


def test_production_refuses_a_plain_http_export_to_another_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KETENHUB_S3_ENDPOINT uses plain http"):
        Settings(
            environment=Environment.PRODUCTION,
            data_dir=tmp_path,
            issuer="https://hub.example.nl",
            audit_export_url="s3://audit-checkpoints",
            s3_endpoint="http://s3.example.nl",
            s3_access_key=SecretStr("key"),
            s3_secret_key=SecretStr("secret"),
        )
