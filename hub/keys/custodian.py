"""The key custodian: rotate, re-wrap and retire KEKs, knowing everything sealed under each.

Two families of secret live under the provider's KEKs:

- the **documents' data keys**, one per document version, kept by the vault
  (:mod:`hub.vault`). They are many, so they move in batches; every wrap used a nonce, so they
  are also what the per-KEK wrap count is made of; and the vault guards their destruction itself
  (:func:`hub.vault.service.retire_kek` refuses a KEK that a live data key still needs);
- the hub's **own sealed secrets**, a handful of rows each: the token signing keys, the audit
  keys, the v-number keys, the user-login secrets and the web-session keys. Each is a
  :class:`SealedKind` registered with the custodian, which counts and re-seals them without
  knowing their tables.

The invariant the custodian keeps: a KEK's material is destroyed only when nothing that is still
needed is sealed under it, and every change to the key hierarchy is recorded in the audit trail
in the same transaction as the change (or, for a KEK rotation, which changes the provider and
not the database, right after it: a rotation that fails records nothing). Who the actor is, and
how the record is written, is the caller's: it passes a :class:`~hub.trail.recorder.Recorder`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

from audit.events import Action
from audit.notes import NoteVerifier
from auth.models import SigningKey
from auth.signing import SigningKeys
from hub.trail.keys import AuditKeys
from hub.trail.recorder import About, Recorder
from hub.vault import repository as vault_repository
from hub.vault import service as vault_service
from hub.websessions.keys import WebSessionKeys
from storage.keys import KekInfo, KeyProvider


class SealedKind(Protocol):
    """One kind of the hub's own secrets sealed under the KEKs (signing keys, audit keys, ...)."""

    @property
    def noun(self) -> str:
        """What the operator is told, in the plural: ``"signing keys"``."""
        ...

    def held(self, session: Session) -> Mapping[str, int]:
        """How many secrets still needed (not destroyed) each KEK seals, by KEK id."""
        ...

    def reseal(self, session: Session) -> int:
        """Re-seal every secret of this kind under the current KEK; returns how many moved.

        Secrets already under the current KEK are left alone, so a run can be repeated.
        """
        ...


class RetireRefused(Exception):
    """The KEK cannot be retired (yet); the message says why and what to do first."""


@dataclass(frozen=True, slots=True)
class KekUsage:
    """Everything one KEK seals: the inventory row of ``ketenhub keys list``."""

    kek: KekInfo
    wraps: int
    """Data keys whose row names it, shredded ones included (each used a nonce under it); a
    re-wrapped key counts under the KEK it moved to."""
    data_keys: int
    """Data keys that still need it to open."""
    secrets: Mapping[str, int]
    """Each registered kind's secrets under it, by :attr:`SealedKind.noun`."""


@dataclass(frozen=True, slots=True)
class Rewrapped:
    """What one ``keys rewrap`` moved to ``kek_id``: data keys, then each kind by noun."""

    kek_id: str
    data_keys: int
    secrets: Mapping[str, int]


class KeyCustodian:
    """Owns the lifecycle of the KEKs and of everything sealed under them.

    ``secrets`` are the registered kinds of sealed secret, in the order they are re-sealed and
    reported. Every method works in the caller's ``session`` and never commits: the caller's
    transaction holds the change and its audit record together.
    """

    def __init__(
        self,
        *,
        provider: KeyProvider,
        vault: vault_service.Vault,
        signing: SigningKeys,
        audit_keys: AuditKeys,
        session_keys: WebSessionKeys,
        secrets: Sequence[SealedKind],
    ) -> None:
        nouns = [kind.noun for kind in secrets]
        if len(set(nouns)) != len(nouns):
            raise ValueError(f"two kinds of sealed secret share a name: {nouns}")
        self.provider = provider
        self._vault = vault
        self._signing = signing
        self._audit_keys = audit_keys
        self._session_keys = session_keys
        self.secrets: tuple[SealedKind, ...] = tuple(secrets)

    # -- inventory ---------------------------------------------------------------------------

    def inventory(self, session: Session) -> list[KekUsage]:
        """Every KEK the provider holds, oldest first, with what is sealed under it."""
        wraps = vault_repository.wrap_counts(session)
        live = vault_repository.live_counts(session)
        held = {kind.noun: kind.held(session) for kind in self.secrets}
        return [
            KekUsage(
                kek=kek,
                wraps=wraps.get(kek.kek_id, 0),
                data_keys=live.get(kek.kek_id, 0),
                secrets={noun: counts.get(kek.kek_id, 0) for noun, counts in held.items()},
            )
            for kek in self.provider.keks()
        ]

    # -- rotation ----------------------------------------------------------------------------

    def rotate_kek(self, session: Session, *, recorder: Recorder) -> tuple[str, str]:
        """Make a new KEK current for new wraps; returns ``(previous, new)`` ids.

        What is sealed under the previous one stays there until :meth:`rewrap`.
        """
        previous = self.provider.current_kek_id()
        new = self.provider.rotate()
        recorder.record(session, Action.KEY_ROTATE, About("kek", new))
        return previous, new

    def rotate_signing_key(self, session: Session, *, recorder: Recorder) -> SigningKey:
        """A new token signing key signs from now on; the previous one stays published."""
        key = self._signing.rotate(session)
        recorder.record(session, Action.KEY_ROTATE, About("signing_key", key.kid))
        return key

    def rotate_audit_key(self, session: Session, *, recorder: Recorder) -> NoteVerifier:
        """A new checkpoint key signs from now on; the earlier ones stay published."""
        verifier = self._audit_keys.rotate(session)
        recorder.record(session, Action.KEY_ROTATE, About("audit_key", verifier.encoded()))
        return verifier

    def rotate_session_key(self, session: Session, *, recorder: Recorder) -> str:
        """A new web-session key encrypts session data from now on; returns its id. Sessions
        under the previous one stay readable; it is deleted once none needs it."""
        key_id = self._session_keys.rotate(session)
        recorder.record(session, Action.KEY_ROTATE, About("web_session_key", key_id))
        return key_id

    # -- re-wrapping and retiring -------------------------------------------------------------

    def rewrap(self, session: Session, *, recorder: Recorder, batch_size: int = 500) -> Rewrapped:
        """Move every data key and every registered secret to the current KEK.

        Objects are not touched. Safe to interrupt and repeat: what already uses the current
        KEK is skipped.
        """
        current = self.provider.current_kek_id()
        data_keys = vault_service.rewrap_all(session, self._vault, batch_size=batch_size)
        moved = {kind.noun: kind.reseal(session) for kind in self.secrets}
        recorder.record(session, Action.KEY_REWRAP, About("kek", current))
        return Rewrapped(kek_id=current, data_keys=data_keys, secrets=moved)

    def retire(self, session: Session, kek_id: str, *, recorder: Recorder) -> None:
        """Destroy ``kek_id``'s material, once nothing still needed is sealed under it.

        Refuses (:class:`RetireRefused`) the current KEK and a KEK that seals a registered
        secret; the vault refuses one that a live data key needs
        (:class:`~storage.errors.KeyRingError`). The record is written before the material is
        destroyed, so a destruction that cannot be recorded does not happen.
        """
        if kek_id == self.provider.current_kek_id():
            raise RetireRefused("the current key-encryption key cannot be retired; rotate first")
        for kind in self.secrets:
            if kind.held(session).get(kek_id, 0):
                raise RetireRefused(
                    f"{kind.noun} are still sealed under {kek_id}; run `ketenhub keys rewrap`"
                )
        recorder.record(session, Action.KEY_RETIRE, About("kek", kek_id))
        vault_service.retire_kek(session, self._vault, kek_id)
