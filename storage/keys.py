"""Key-encryption keys (KEKs) and the wrapping of data keys (DEKs).

Every document version is encrypted under its own random 256-bit data key (see
:mod:`storage.envelope`). The data key is never stored in the clear: it is *wrapped* (encrypted)
under the current key-encryption key, and the hub keeps the wrapped form in its database, never
beside the object. Rotation is "wrap with the newest KEK, unwrap with any": old wrapped keys
keep working until :func:`rewrap` has moved them to the newest KEK, after which the old KEK can
be retired and its material destroyed.

Wrapped key format (61 bytes), AES-256-GCM under the KEK::

    offset  len  field
    0       1    version = 0x01
    1       12   nonce, random (96 bits, the only nonce size accepted)
    13      48   AES-256-GCM(KEK, nonce, DEK, aad) = ciphertext(32) || tag(16)

    aad = b"ketenhub-wrap" || 0x01 || document_id(16) || BE32(document version)
          || dek_id(16) || len(kek_id)(1) || kek_id (ASCII)

The KEK id travels beside the wrapped key (a database column) and is bound by the associated
data, so a wrapped key moved to another document, version, data key id or KEK fails to unwrap.

The same ring also *seals* the hub's own small secrets (token signing keys), with the same
layout and ``aad = b"ketenhub-seal" || 0x01 || len(purpose) || purpose || len(kek_id) || kek_id``.
The distinct label keeps the two uses apart: a sealed secret never unwraps as a data key.

Random 96-bit nonces are safe for about 2**32 wraps under one key (NIST SP 800-38D §8.3). The
ring counts wraps per KEK and refuses to wrap past ``wrap_limit`` (default 2**31, half the bound,
because several replicas count independently); the hub seeds the counts from its database
(one row per data key) so restarts do not reset them.

The local key file (``LocalKeyRing``) is JSON, written with mode 0400 in a 0700 directory::

    {"format": "ketenhub-keyring/1",
     "keks": [{"id": "kek-…", "key": "<base64 32 bytes>", "created_at": "<RFC 3339>"}, …]}

The last entry is the current KEK. The file is rewritten atomically (temporary file, fsync,
rename; the directory must be writable, the file need not be). A ring reloads the file when it
changes on disk, so a rotation done by one replica on a shared key volume is in force on the
others within ``reload_interval`` seconds.

Which key file is accepted (checked on the open file, with ``fstat``, so what is checked is
what is read): the path may lead through symbolic links, as Kubernetes mounts secrets
(``keyring.json -> ..data/keyring.json``, ``..data -> ..2026_01_01_…``); the whole chain is
resolved and its end opened with ``O_NOFOLLOW``. That must be a regular file owned by the
process's user or by root, with no permission for others, no group write or execute, and group
read only when the process is in the file's group (as Kubernetes' ``fsGroup`` arranges). With
``allow_writable=False`` (the hub's production mode) it must carry no write permission at all:
0400 or 0440.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import stat
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import (
    IntegrityError,
    KeyFileCorrupt,
    KeyFileInsecure,
    KeyFileMissing,
    KeyRingError,
    KeyUsageExhausted,
    UnknownKeyId,
)

WRAP_VERSION: Final = 1
KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
WRAPPED_SIZE: Final = 1 + NONCE_SIZE + KEY_SIZE + 16
DEFAULT_WRAP_LIMIT: Final = 2**31
MAX_SEALED_SIZE: Final = 64 * 1024
KEYRING_FORMAT: Final = "ketenhub-keyring/1"
_KEK_ID_ALPHABET: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key wrapped under the KEK named by ``kek_id``. Safe to store; useless alone."""

    kek_id: str
    blob: bytes


@dataclass(frozen=True, slots=True)
class KekInfo:
    """Public facts about one key-encryption key: never the key itself."""

    kek_id: str
    created_at: datetime
    current: bool


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys and seals small secrets under key-encryption keys.

    Everything the hub does with keys goes through this protocol, never through
    :class:`LocalKeyRing` itself, so a KMS-backed provider can replace the local key file by
    implementing these methods. What a provider must guarantee:

    - "wrap with the newest, unwrap with any": :meth:`wrap` and :meth:`seal` use the KEK named
      by :meth:`current_kek_id`; :meth:`unwrap` and :meth:`unseal` accept every KEK that
      :meth:`keks` lists;
    - the associated data binds what the arguments name (document, version, data key id, or
      the sealing purpose) and the KEK id, so a blob moved elsewhere fails with
      :class:`~storage.errors.IntegrityError`, never opens as something else;
    - :meth:`retire` makes a KEK's material unusable for good.
    """

    @property
    def wrap_limit(self) -> int:
        """The most keys one KEK wraps before :class:`KeyUsageExhausted` asks for rotation."""
        ...

    def current_kek_id(self) -> str:
        """The id of the KEK that new wraps use."""
        ...

    def keks(self) -> Sequence[KekInfo]:
        """Every KEK the provider can unwrap with, oldest first."""
        ...

    def wrap(
        self, dek: bytes, *, document_id: uuid.UUID, version: int, dek_id: bytes
    ) -> WrappedKey:
        """Wrap ``dek`` under the current KEK, bound to the document, version and data key id."""
        ...

    def unwrap(
        self, wrapped: WrappedKey, *, document_id: uuid.UUID, version: int, dek_id: bytes
    ) -> bytes:
        """Recover the data key; :class:`IntegrityError` for any mismatch or tampering."""
        ...

    def seal(self, secret: bytes, *, purpose: str) -> WrappedKey:
        """Encrypt a small secret of the hub's own (a signing key) under the current KEK."""
        ...

    def unseal(self, sealed: WrappedKey, *, purpose: str) -> bytes:
        """Recover a sealed secret; :class:`IntegrityError` for any mismatch or tampering."""
        ...

    def rotate(self) -> str:
        """Make a fresh KEK current and return its id; the older ones keep unwrapping."""
        ...

    def retire(self, kek_id: str) -> None:
        """Destroy a KEK that no live data key needs any more (never the current one)."""
        ...

    def check(self) -> None:
        """Readiness: raise a :class:`~storage.errors.StorageError` when keys cannot be used."""
        ...

    def seed_wrap_counts(self, counts: Mapping[str, int]) -> None:
        """Tell the provider how many keys each KEK has wrapped so far (from the database)."""
        ...


def _wrap_aad(*, document_id: uuid.UUID, version: int, dek_id: bytes, kek_id: str) -> bytes:
    if not 0 <= version < 2**32:
        raise ValueError("document version must fit in 32 bits")
    if len(dek_id) != 16:
        raise ValueError("dek_id must be 16 bytes")
    kek = kek_id.encode("ascii")
    return (
        b"ketenhub-wrap"
        + bytes([WRAP_VERSION])
        + document_id.bytes
        + version.to_bytes(4, "big")
        + dek_id
        + bytes([len(kek)])
        + kek
    )


def _seal_aad(*, purpose: str, kek_id: str) -> bytes:
    label, kek = purpose.encode("utf-8"), kek_id.encode("ascii")
    if not 0 < len(label) < 256:
        raise ValueError("a sealing purpose must be 1-255 bytes")
    return b"ketenhub-seal" + bytes([WRAP_VERSION, len(label)]) + label + bytes([len(kek)]) + kek


def _validate_kek_id(kek_id: str) -> str:
    if not 1 <= len(kek_id) <= 64 or not set(kek_id) <= _KEK_ID_ALPHABET:
        raise KeyFileCorrupt("a key id must be 1-64 characters of a-z, 0-9 and '-'")
    return kek_id


def new_kek_id() -> str:
    """A fresh, random, printable KEK id."""
    return f"kek-{secrets.token_hex(8)}"


@dataclass(frozen=True, slots=True)
class _Kek:
    kek_id: str
    key: bytes
    created_at: datetime


def _parse_entry(entry: object) -> _Kek:
    if not isinstance(entry, dict):
        raise KeyFileCorrupt("a key ring entry is not an object")
    key = base64.b64decode(entry["key"], validate=True)
    if len(key) != KEY_SIZE:
        raise KeyFileCorrupt("a key in the key ring is not 256 bits")
    created = datetime.fromisoformat(entry["created_at"])
    if created.tzinfo is None:
        raise KeyFileCorrupt("a key's created_at has no time zone")
    return _Kek(_validate_kek_id(entry["id"]), key, created)


def _parse_keyring(raw: bytes) -> list[_Kek]:
    try:
        document = json.loads(raw)
    except ValueError:
        raise KeyFileCorrupt("the key file is not JSON") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != KEYRING_FORMAT
        or not isinstance(document.get("keks"), list)
    ):
        raise KeyFileCorrupt(f"not a key ring of format {KEYRING_FORMAT}")
    try:
        keks = [_parse_entry(entry) for entry in document["keks"]]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        # The message names the problem's kind, never a value from the file: it holds keys.
        raise KeyFileCorrupt(f"the key file is malformed ({type(exc).__name__})") from None
    if not keks:
        raise KeyFileCorrupt("the key ring holds no keys")
    if len({k.kek_id for k in keks}) != len(keks):
        raise KeyFileCorrupt("the key ring holds a key id twice")
    return keks


def _serialise_keyring(keks: Sequence[_Kek]) -> bytes:
    return json.dumps(
        {
            "format": KEYRING_FORMAT,
            "keks": [
                {
                    "id": k.kek_id,
                    "key": base64.b64encode(k.key).decode("ascii"),
                    "created_at": k.created_at.isoformat(),
                }
                for k in keks
            ],
        },
        indent=2,
    ).encode("utf-8")


KEY_FILE_MODE: Final = 0o400
"""The mode the ring writes its file with: readable by its owner only, and not writable."""


def _check_private(shown: str, fix: Path, st: os.stat_result, *, allow_writable: bool) -> None:
    """Refuse a key file that anyone but the hub (and root) could read or change; see the
    module docstring. ``shown`` names the file in messages, ``fix`` is where to chmod."""
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileInsecure(f"key file {shown} is not a regular file")
    euid = os.geteuid()
    if st.st_uid not in (euid, 0):
        raise KeyFileInsecure(
            f"key file {shown} is owned by uid {st.st_uid}; it must belong to the hub's user "
            f"(uid {euid}) or to root"
        )
    mode = stat.S_IMODE(st.st_mode)
    reasons = []
    if mode & 0o007:
        reasons.append("others have access to it")
    if mode & 0o030:
        reasons.append("its group may write or execute it")
    if mode & 0o040 and st.st_gid != os.getegid() and st.st_gid not in os.getgroups():
        reasons.append(f"its group {st.st_gid} may read it, and the hub is not in that group")
    if mode & 0o7100:
        reasons.append("it is executable or has special bits")
    if mode & 0o200 and not allow_writable:
        reasons.append("it is writable, which production refuses")
    if reasons:
        raise KeyFileInsecure(
            f"key file {shown} has mode {mode:04o}: {'; '.join(reasons)} "
            f"(chmod {KEY_FILE_MODE:o} {fix})"
        )


def atomic_write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` as a private file (``mode``, by default 0600), atomically
    and durably. ``path`` itself is replaced: resolve a symbolic link first to keep it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalKeyRing:
    """KEKs in a local, private JSON file. Thread-safe; reloads the file when it changes.

    ``allow_writable=False`` refuses a key file with any write permission (see the module
    docstring). ``clock`` and ``monotonic`` are injectable so tests can fix time.
    """

    def __init__(
        self,
        path: Path,
        *,
        wrap_limit: int = DEFAULT_WRAP_LIMIT,
        reload_interval: float = 2.0,
        allow_writable: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._allow_writable = allow_writable
        self._wrap_limit = wrap_limit
        self._reload_interval = reload_interval
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._wraps: dict[str, int] = {}
        self._keks: list[_Kek] = []
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._load()

    # -- creation and rotation -------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        wrap_limit: int = DEFAULT_WRAP_LIMIT,
        reload_interval: float = 2.0,
        allow_writable: bool = True,
    ) -> LocalKeyRing:
        """Create a new key file with one fresh KEK. Refuses to overwrite an existing file."""
        if path.exists() or path.is_symlink():
            raise KeyRingError(f"{path} exists already; refusing to overwrite a key ring")
        kek = _Kek(new_kek_id(), secrets.token_bytes(KEY_SIZE), datetime.now(UTC))
        _write(path, _serialise_keyring([kek]))
        return cls(
            path,
            wrap_limit=wrap_limit,
            reload_interval=reload_interval,
            allow_writable=allow_writable,
        )

    def rotate(self) -> str:
        """Add a fresh KEK and make it current. Returns its id. Old KEKs keep unwrapping."""
        with self._lock:
            self._reload_if_changed(force=True)
            kek = _Kek(new_kek_id(), secrets.token_bytes(KEY_SIZE), self._clock())
            keks = [*self._keks, kek]
            _write(self._resolved(), _serialise_keyring(keks))
            self._keks = keks
            self._signature = self._stat_signature()
            return kek.kek_id

    def retire(self, kek_id: str) -> None:
        """Destroy a KEK's material. The caller must first have re-wrapped every key under it.

        The current KEK cannot be retired: rotate first.
        """
        with self._lock:
            self._reload_if_changed(force=True)
            if kek_id not in {k.kek_id for k in self._keks}:
                raise UnknownKeyId(f"no key-encryption key with id {kek_id!r}")
            if self._keks[-1].kek_id == kek_id:
                raise KeyRingError("the current key-encryption key cannot be retired; rotate first")
            keks = [k for k in self._keks if k.kek_id != kek_id]
            _write(self._resolved(), _serialise_keyring(keks))
            self._keks = keks
            self._signature = self._stat_signature()

    # -- KeyProvider -------------------------------------------------------------------------

    def current_kek_id(self) -> str:
        with self._lock:
            self._reload_if_changed()
            return self._keks[-1].kek_id

    def keks(self) -> Sequence[KekInfo]:
        with self._lock:
            self._reload_if_changed()
            last = self._keks[-1].kek_id
            return [KekInfo(k.kek_id, k.created_at, k.kek_id == last) for k in self._keks]

    def wrap(
        self, dek: bytes, *, document_id: uuid.UUID, version: int, dek_id: bytes
    ) -> WrappedKey:
        if len(dek) != KEY_SIZE:
            raise ValueError("a data key must be 256 bits")
        return self._encrypt(
            dek,
            lambda kek_id: _wrap_aad(
                document_id=document_id, version=version, dek_id=dek_id, kek_id=kek_id
            ),
        )

    def unwrap(
        self, wrapped: WrappedKey, *, document_id: uuid.UUID, version: int, dek_id: bytes
    ) -> bytes:
        if len(wrapped.blob) != WRAPPED_SIZE:
            raise IntegrityError
        return self._decrypt(
            wrapped,
            _wrap_aad(
                document_id=document_id, version=version, dek_id=dek_id, kek_id=wrapped.kek_id
            ),
        )

    def seal(self, secret: bytes, *, purpose: str) -> WrappedKey:
        if not 0 < len(secret) <= MAX_SEALED_SIZE:
            raise ValueError(f"a sealed secret must be 1-{MAX_SEALED_SIZE} bytes")
        return self._encrypt(secret, lambda kek_id: _seal_aad(purpose=purpose, kek_id=kek_id))

    def unseal(self, sealed: WrappedKey, *, purpose: str) -> bytes:
        return self._decrypt(sealed, _seal_aad(purpose=purpose, kek_id=sealed.kek_id))

    def _encrypt(self, plaintext: bytes, aad_for: Callable[[str], bytes]) -> WrappedKey:
        with self._lock:
            self._reload_if_changed()
            kek = self._keks[-1]
            used = self._wraps.get(kek.kek_id, 0)
            if used >= self._wrap_limit:
                raise KeyUsageExhausted(
                    f"key-encryption key {kek.kek_id} has wrapped {used} keys; rotate it"
                )
            self._wraps[kek.kek_id] = used + 1
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = AESGCM(kek.key).encrypt(nonce, plaintext, aad_for(kek.kek_id))
        return WrappedKey(kek.kek_id, bytes([WRAP_VERSION]) + nonce + sealed)

    def _decrypt(self, wrapped: WrappedKey, aad: bytes) -> bytes:
        with self._lock:
            self._reload_if_changed()
            kek = next((k for k in self._keks if k.kek_id == wrapped.kek_id), None)
            if kek is None:
                # A KEK that was never ours, or one already retired: the operator needs the id.
                self._reload_if_changed(force=True)
                kek = next((k for k in self._keks if k.kek_id == wrapped.kek_id), None)
        if kek is None:
            raise UnknownKeyId(f"no key-encryption key with id {wrapped.kek_id!r}")
        blob = wrapped.blob
        if len(blob) < 1 + NONCE_SIZE + 16 or blob[0] != WRAP_VERSION:
            raise IntegrityError
        try:
            return AESGCM(kek.key).decrypt(blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :], aad)
        except InvalidTag:
            raise IntegrityError from None

    # -- wrap accounting ---------------------------------------------------------------------

    def seed_wrap_counts(self, counts: Mapping[str, int]) -> None:
        """Raise the per-KEK wrap counters to at least ``counts`` (from the hub's database)."""
        with self._lock:
            for kek_id, count in counts.items():
                self._wraps[kek_id] = max(self._wraps.get(kek_id, 0), count)

    def wrap_count(self, kek_id: str) -> int:
        """Wraps this process knows of under ``kek_id``: the seeded count plus its own."""
        with self._lock:
            return self._wraps.get(kek_id, 0)

    @property
    def wrap_limit(self) -> int:
        return self._wrap_limit

    # -- file handling -----------------------------------------------------------------------

    def _stat_signature(self) -> tuple[int, int, int]:
        st = self._path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _resolved(self) -> Path:
        """The file at the end of the path's chain of symbolic links."""
        try:
            return self._path.resolve(strict=True)
        except FileNotFoundError:
            raise _missing(self._path) from None
        except OSError as exc:
            raise KeyRingError(f"cannot open key file {self._path}: {exc.strerror}") from exc

    def _load(self) -> None:
        resolved = self._resolved()
        try:
            # O_NOFOLLOW: the file checked below is the end of the chain resolved above, not
            # a link put there since. O_NONBLOCK: a FIFO there is refused, not waited on.
            fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise _missing(self._path) from None
        except OSError as exc:
            raise KeyRingError(f"cannot open key file {self._path}: {exc.strerror}") from exc
        linked = resolved != Path(os.path.abspath(self._path))  # noqa: PTH100 - normalises, never resolves
        shown = f"{self._path} (-> {resolved})" if linked else str(self._path)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            _check_private(shown, resolved, st, allow_writable=self._allow_writable)
            keks = _parse_keyring(fh.read())
        self._keks = keks
        self._signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        self._checked_at = self._monotonic()

    def _reload_if_changed(self, *, force: bool = False) -> None:
        now = self._monotonic()
        if not force and now - self._checked_at < self._reload_interval:
            return
        self._checked_at = now
        with contextlib.suppress(FileNotFoundError):
            # A vanished file keeps the keys already in memory: losing them mid-flight would
            # make every request fail; readiness reports the missing file instead.
            if self._stat_signature() == self._signature:
                return
        if self._path.exists():
            self._load()

    def check(self) -> None:
        """Readiness probe: the key file is present, private and parseable."""
        with self._lock:
            self._reload_if_changed(force=True)
            if not self._path.exists():
                raise KeyFileMissing(f"key file {self._path} has disappeared")


def _missing(path: Path) -> KeyFileMissing:
    return KeyFileMissing(f"key file {path} does not exist; run `ketenhub init` to create it")


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_private(path, data, mode=KEY_FILE_MODE)
    except OSError as exc:
        # A key ring mounted read-only (a Kubernetes secret) cannot rotate: say so in a line.
        raise KeyRingError(f"cannot write key file {path}: {exc.strerror}") from exc


def rewrap(
    provider: KeyProvider,
    wrapped: WrappedKey,
    *,
    document_id: uuid.UUID,
    version: int,
    dek_id: bytes,
) -> WrappedKey:
    """Move one wrapped data key to the provider's current KEK; the object is not touched.

    Returns ``wrapped`` itself when it already uses the current KEK, so a re-wrap run can be
    repeated or resumed after an interruption.
    """
    if wrapped.kek_id == provider.current_kek_id():
        return wrapped
    dek = provider.unwrap(wrapped, document_id=document_id, version=version, dek_id=dek_id)
    return provider.wrap(dek, document_id=document_id, version=version, dek_id=dek_id)
