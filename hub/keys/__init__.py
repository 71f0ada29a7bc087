"""The key custodian: one owner for everything sealed under a key-encryption key (KEK).

The hub keeps four kinds of secret under the KEKs of its :class:`~storage.keys.KeyProvider`:
the documents' data keys (wrapped, one per document version, in ``sealed_object``), the token
signing keys, the audit keys and the v-number keys (each sealed in a table of its own). Rotating,
re-wrapping and retiring a KEK is only safe when every one of them is accounted for, so one
service does it: :class:`~hub.keys.custodian.KeyCustodian`. The ``ketenhub keys`` commands only
call it. A new kind of secret (user-login secrets, later) registers as a
:class:`~hub.keys.custodian.SealedKind`, and rewrap and retire cover it from then on.

The custodian depends on the provider protocol only, never on the local key file, so a
KMS-backed provider replaces the key file without a change here (decision 0015).
"""
