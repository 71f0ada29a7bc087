"""Exporting signed checkpoints to a write-once place outside the database.

A checkpoint kept only in the database cannot catch someone who deletes the newest events
together with the checkpoints covering them; a copy elsewhere can (``ketenhub audit verify
--checkpoint FILE``). Each new checkpoint is therefore written, after its transaction commits,
as ``<tree size, 20 digits>.checkpoint`` holding the signed note, to:

* a directory (the default, ``<data dir>/audit-checkpoints``): created exclusively, read-only,
  fsynced, never overwritten. Point it at append-only or WORM media in a deployment;
* an S3 bucket with object lock (``s3://BUCKET/PREFIX``): each object is written with a
  COMPLIANCE-mode retention, so nobody, root account included, can delete or overwrite it
  before the retention ends.

Export is best effort after commit: a failure is logged and the next checkpoint is exported as
usual; the checkpoint itself stays in the database. Any later exported checkpoint serves as a
witness for everything before it, since each checkpoint extends the previous one.

:meth:`CheckpointExport.ensure_ready` prepares the target (creates the directory, or the bucket
with object lock) and refuses one that cannot be write-once, such as a bucket without object
lock. Call it at start-up to fail early; the S3 export also calls it once before its first
write. See ``docs/decisions/0007-checkpoint-export.md``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from audit.checkpoints import SignedCheckpoint
from hub.config import Settings
from storage.objects import S3WriteOnce

logger = logging.getLogger(__name__)


def export_name(tree_size: int) -> str:
    return f"{tree_size:020d}.checkpoint"


class ExportConfigError(ValueError):
    """``KETENHUB_AUDIT_EXPORT_URL`` (or the S3 settings it needs) cannot be used."""


class CheckpointExport(Protocol):
    def ensure_ready(self) -> None:
        """Prepare the target; raise if it cannot hold write-once checkpoints."""
        ...

    def write(self, checkpoint: SignedCheckpoint) -> None:
        """Export one checkpoint as ``export_name(tree_size)``; a repeat is a no-op."""
        ...

    def describe(self) -> str:
        """Where checkpoints go, for operators (never a secret)."""
        ...


class DirectoryExport:
    """Write-once files in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return str(self.directory)

    def ensure_ready(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, checkpoint: SignedCheckpoint) -> None:
        self.ensure_ready()
        path = self.directory / export_name(checkpoint.tree_size)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        except FileExistsError:
            if path.read_text("utf-8") != checkpoint.note:
                logger.warning("audit checkpoint export %s exists with other content", path)
            return
        try:
            os.write(fd, checkpoint.note.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        directory_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


class S3Export:
    """Checkpoints as records in an S3 bucket with object lock, COMPLIANCE mode.

    The bucket is checked (and created with object lock if missing) once per process, before
    the first write; :meth:`ensure_ready` does it earlier. Recreating a missing export bucket
    hides nothing: a bucket that still holds retained checkpoints cannot be deleted.
    """

    def __init__(self, target: S3WriteOnce) -> None:
        self.target = target
        self._ready = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        where = f"s3://{self.target.bucket}"
        if self.target.prefix:
            where += f"/{self.target.prefix}"
        days = self.target.retention_days
        return f"{where} (object lock, COMPLIANCE, {days} day{'' if days == 1 else 's'})"

    def ensure_ready(self) -> None:
        with self._lock:
            self.target.ensure_ready()
            self._ready = True

    def write(self, checkpoint: SignedCheckpoint) -> None:
        if not self._ready:
            self.ensure_ready()
        self.target.write(export_name(checkpoint.tree_size), checkpoint.note.encode("utf-8"))


def build_s3_export(settings: Settings, url: str) -> S3Export:
    """The S3 export for ``url`` = ``s3://BUCKET[/PREFIX]``, over the ``KETENHUB_S3_*`` settings.

    Raises :class:`ExportConfigError` naming what is missing or malformed; nothing connects.
    """
    parts = urlsplit(url)
    if not parts.netloc or parts.query or parts.fragment:
        raise ExportConfigError(
            "KETENHUB_AUDIT_EXPORT_URL must be s3://BUCKET or s3://BUCKET/PREFIX, "
            "with no query or fragment"
        )
    missing = [
        name
        for name, value in (
            ("KETENHUB_S3_ENDPOINT", settings.s3_endpoint),
            ("KETENHUB_S3_ACCESS_KEY", settings.s3_access_key),
            ("KETENHUB_S3_SECRET_KEY", settings.s3_secret_key),
        )
        if not value
    ]
    if missing or settings.s3_access_key is None or settings.s3_secret_key is None:
        raise ExportConfigError(f"exporting audit checkpoints to {url} needs {', '.join(missing)}")
    try:
        target = S3WriteOnce(
            endpoint=settings.s3_endpoint or "",
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=parts.netloc,
            region=settings.s3_region,
            prefix=parts.path,
            retention_days=settings.audit_export_retention_days,
        )
    except ValueError as exc:
        raise ExportConfigError(f"KETENHUB_AUDIT_EXPORT_URL {url}: {exc}") from exc
    return S3Export(target)


def build_export(settings: Settings) -> CheckpointExport:
    """The export ``KETENHUB_AUDIT_EXPORT_URL`` names: a directory (default) or ``s3://``."""
    target = settings.resolved_audit_export
    if target.startswith("s3://"):
        return build_s3_export(settings, target)
    path = target.removeprefix("file://")
    if "://" in path:
        raise ExportConfigError(
            "KETENHUB_AUDIT_EXPORT_URL must be a directory or s3://BUCKET[/PREFIX]"
        )
    return DirectoryExport(Path(path))
