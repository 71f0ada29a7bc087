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
usual; the checkpoint itself stays in the database.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from audit.checkpoints import SignedCheckpoint
from hub.config import Settings

logger = logging.getLogger(__name__)


def export_name(tree_size: int) -> str:
    return f"{tree_size:020d}.checkpoint"


class CheckpointExport(Protocol):
    def write(self, checkpoint: SignedCheckpoint) -> None: ...

    def describe(self) -> str: ...


class DirectoryExport:
    """Write-once files in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return str(self.directory)

    def write(self, checkpoint: SignedCheckpoint) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
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


def build_export(settings: Settings) -> CheckpointExport:
    target = settings.resolved_audit_export
    if target.startswith("s3://"):
        raise NotImplementedError("S3 export is wired in by build_s3_export")
    return DirectoryExport(Path(target.removeprefix("file://")))
