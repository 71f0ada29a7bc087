"""The errors of receipt verification: each names what a partner's check found wrong.

A receipt is evidence, so a failure is not a bug to be retried but a finding to be reported
(``ketenhub-client receipt verify`` exits 4 on any of them). Every error's message says what
did not hold and, for a hash, shows the expected and the computed value; none carries a
private key or a token. The tree::

    VerificationError                 the evidence does not hold
    ├── MalformedEvidence             a receipt, note, key, checkpoint or hub answer is not
    │                                 well-formed (cannot even be checked)
    ├── SignatureInvalid              a known key's signature over a note does not verify: the
    │                                 note was altered (tampered) after signing
    ├── UnknownKey                    no key this client trusts signed the note (a wrong key)
    ├── KeyChanged                    the hub signs with a key other than the ones pinned on
    │                                 first use (as ssh's changed host key: confirm, then accept)
    ├── LeafMismatch                  the event the hub shows is not the one the receipt names
    ├── ContentMismatch               the event's content_sha256/content_size are not the file's
    ├── ProofError                    a Merkle inclusion or consistency proof does not hold
    └── SplitView                     the hub's log does not extend the checkpoint this client
                                      kept: two views of one log, which only a forking (or
                                      rolled back) log can produce

``VerificationError`` is the SDK's :class:`~ketenhub_client.errors.VerificationFailed` (exit
4) and ``SplitView`` also its :class:`~ketenhub_client.errors.SplitView`, so a caller that
catches the SDK's tree catches these too. ``WitnessStateError`` is a
:class:`~ketenhub_client.errors.ConfigError` (exit 1): the client's own state file is
unreadable, so nothing was checked against it (a local problem, not evidence about the hub).
"""

from __future__ import annotations

from ketenhub_client import errors

__all__ = [
    "ContentMismatch",
    "KeyChanged",
    "LeafMismatch",
    "MalformedEvidence",
    "ProofError",
    "SignatureInvalid",
    "SplitView",
    "UnknownKey",
    "VerificationError",
    "WitnessStateError",
]


class VerificationError(errors.VerificationFailed):
    """Evidence from the hub (a receipt, a checkpoint, a proof) does not hold."""


class MalformedEvidence(VerificationError):
    """A receipt, signed note, verifier key, checkpoint or hub answer is not well-formed."""


class SignatureInvalid(VerificationError):
    """A trusted key's signature over a note fails: the note's text or signature was altered."""


class UnknownKey(VerificationError):
    """No trusted key signed the note: it was signed with another (a wrong) key, or not at all."""


class KeyChanged(VerificationError):
    """The hub signed with a key that is not among the keys pinned on first use."""


class LeafMismatch(VerificationError):
    """The event does not hash to the receipt's leaf hash, or the receipt contradicts itself."""


class ContentMismatch(VerificationError):
    """The event's recorded content (SHA-256, size) is not that of the file given."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not hold (RFC 9162 §2.1.3.2, §2.1.4.2)."""


class SplitView(VerificationError, errors.SplitView):
    """The hub's checkpoint is inconsistent with the one this client kept: a forked log."""


class WitnessStateError(errors.ConfigError):
    """The witness state file cannot be read or written; nothing was checked against it."""
