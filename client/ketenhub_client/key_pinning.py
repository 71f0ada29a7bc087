"""Which audit keys a partner's client trusts: the hub's, pinned on first use, as ssh does.

The hub publishes its audit keys (``GET /api/v1/audit/keys``), the current one and every one it
rotated out, since those still verify what they signed. A client cannot tell from the answer
alone whether a key is the hub's or an impostor's, so the first keys it sees are pinned in its
witness state (:mod:`ketenhub_client.witness`) and trusted from then on; after that:

* a note signed by a pinned key verifies;
* a note signed only by a published key that is not pinned is a :class:`KeyChanged` (the hub
  rotated its key, ``ketenhub keys rotate --audit``, or someone else answers in its name),
  until the partner has confirmed the new key ID with the hub's operator and verifies again
  with ``accept_new_key``, which pins it;
* a note signed by no published key at all is an :class:`UnknownKey`, accepted never;
* a log name (origin) the client has not seen, at a hub whose other log it pinned, is a
  :class:`KeyChanged` too: a renamed log is not a fresh first use;
* a pinned key the hub stopped publishing is a warning: the hub promises to keep them.

Keys are pinned only when a verification's log checks all pass (:meth:`KeyTrust.keep`), so a
failed first run trusts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ketenhub_client.notes import VerifierKey, open_note
from ketenhub_client.verification_errors import KeyChanged, UnknownKey
from ketenhub_client.witness import KeptCheckpoint, LogView

__all__ = ["KeyTrust", "pin_keys"]


class KeyTrust:
    """The keys a note may be signed with in one verification: the pinned ones (every
    published one on first use), and the published unpinned ones ``accept_new_key`` lets in."""

    def __init__(
        self,
        *,
        trusted: list[VerifierKey],
        unpinned: list[VerifierKey],
        first_use: bool,
        accept_new_key: bool,
        detail: str,
        warnings: list[str],
    ) -> None:
        self.trusted = trusted
        self.unpinned = unpinned
        self.first_use = first_use
        self.accept_new_key = accept_new_key
        self.accepted: list[VerifierKey] = []
        self.detail = detail
        self._warnings = warnings

    def take_warnings(self) -> list[str]:
        """The warnings since the last call (a key not pinned, a key accepted, …)."""
        taken, self._warnings = self._warnings, []
        return taken

    def open(self, note: str, origin: str) -> VerifierKey:
        """The key that signed ``note``, named ``origin``; :class:`KeyChanged` for a published
        key that is not pinned (unless ``accept_new_key``), :class:`UnknownKey` for any other."""
        try:
            signed_by = open_note(note, self.trusted).signed_by
        except UnknownKey:
            signed_by = self._by_unpinned(note)
        if all(key.name != origin for key in signed_by):
            raise UnknownKey(f"the note is not signed by a key named {origin!r}")
        return signed_by[0]

    def _by_unpinned(self, note: str) -> tuple[VerifierKey, ...]:
        try:
            signed_by = open_note(note, self.unpinned).signed_by if self.unpinned else ()
        except UnknownKey:
            signed_by = ()
        if not signed_by:
            raise UnknownKey("no pinned or published audit key of the hub signed the note")
        labels = ", ".join(key.label for key in signed_by)
        if not self.accept_new_key:
            raise KeyChanged(
                f"signed by {labels}, which the hub now publishes but this client did not pin: "
                "the hub rotated its audit key, or someone else signs in its name. Ask the "
                "hub's operator for the new key's ID, then verify again accepting the new key"
            )
        for key in signed_by:
            self.trusted.append(key)
            self.unpinned.remove(key)
            self.accepted.append(key)
        self._warnings.append(f"accepted the new audit key {labels}, pinned if all checks pass")
        return signed_by

    def keep(self, view: LogView, kept: KeptCheckpoint, now: Callable[[], str]) -> None:
        """Pin what was trusted (first use) or accepted, and keep ``kept``."""
        for key in self.trusted if self.first_use else self.accepted:
            view.keys.setdefault(key.encoded(), now())
        view.checkpoint = kept


def pin_keys(
    published: Sequence[VerifierKey],
    origin: str,
    view: LogView,
    *,
    accept_new_key: bool,
    other_origins: Sequence[str],
) -> KeyTrust:
    """The trust of one verification of a note of log ``origin``, whose ``published`` keys the
    hub lists and whose pinned keys ``view`` holds; ``other_origins`` are the logs pinned at
    the same hub."""
    if not view.keys and other_origins and not accept_new_key:
        raise KeyChanged(
            f"the receipt is of the log {origin!r}, but this client pinned the keys of "
            f"{', '.join(map(repr, other_origins))} at this hub: the hub renamed its log, or "
            "someone else answers in its name. Ask the hub's operator, then verify again "
            "accepting the new key"
        )
    if not view.keys:
        return KeyTrust(
            trusted=list(published),
            unpinned=[],
            first_use=True,
            accept_new_key=accept_new_key,
            detail=f"first use: {len(published)} published key(s), pinned if all checks pass",
            warnings=[],
        )
    pinned = view.pinned()
    warnings = [
        f"the hub no longer publishes the pinned key {key.label}; it promised to keep every "
        "audit key published for what it signed"
        for key in pinned
        if key not in published
    ]
    unpinned = [key for key in published if key not in pinned]
    if unpinned:
        labels = ", ".join(key.label for key in unpinned)
        warnings.append(f"the hub publishes audit key(s) not pinned here: {labels}")
    return KeyTrust(
        trusted=pinned,
        unpinned=unpinned,
        first_use=False,
        accept_new_key=accept_new_key,
        detail=f"{len(pinned)} pinned key(s), {len(published)} published",
        warnings=warnings,
    )
