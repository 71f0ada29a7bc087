"""RFC 6962 / RFC 9162 Merkle proof verification for a partner, independent of the hub's code.

The hub's audit trail is a Merkle tree (RFC 6962 §2.1, restated in RFC 9162 §2.1)::

    leaf hash  = SHA-256(0x00 || leaf data)
    node hash  = SHA-256(0x01 || left || right)      (both children 32 bytes)

A partner checks two kinds of proof, and nothing here trusts the hub for either:

* inclusion (RFC 9162 §2.1.3): the audit path of leaf ``index`` in the tree of ``size`` leaves
  folds into that tree's root;
* consistency (RFC 9162 §2.1.4): the tree of ``size2`` leaves only appends to the tree of
  ``size1`` leaves, so the root the partner kept is still the start of the log.

Why another implementation: a receipt is worth as much as the check a partner can run without
the hub's software. This module is written apart from the hub's ``audit.merkle`` (which
follows the RFC's bit-shifting steps) and in the shape of transparency-dev/merkle's
``proof/verify.go``: a proof is split into the *inner* part (siblings below the level where
the leaf's path joins the right border of the tree) and the *border* part (left siblings along
that border), and each part is chained on its own. Both shapes are checked against the same
vectors (transparency-dev's) and against each other in the tests, so a bug in one shows.

Edge cases, as those vectors pin them down: a leaf index at or beyond the tree size, a proof
of the wrong length and any hash that is not 32 bytes are refused; equal sizes need an empty
proof and equal roots; a consistency "proof" from the empty tree is refused, since every tree
extends it and it would vouch for nothing. Every failure raises
:class:`~ketenhub_client.verification_errors.ProofError`, whose message names the check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ketenhub_client.verification_errors import ProofError

__all__ = [
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every leaf, node and root hash (SHA-256)."""

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the RFC 6962 hash of one leaf's data."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the RFC 6962 hash of an interior node."""
    return hashlib.sha256(_NODE + left + right).digest()


def verify_inclusion(
    *, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` with ``root``.

    Returns ``None`` when it is; raises :class:`ProofError` otherwise.
    """
    _check_hash("root", root)
    computed = root_from_inclusion_proof(index=index, size=size, leaf=leaf, proof=proof)
    _match("root", expected=root, computed=computed)


def root_from_inclusion_proof(
    *, index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that the audit path ``proof`` of leaf ``index`` (in a tree of ``size``) gives."""
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    _check_proof(proof)
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {inner + border}")
    digest = _chain_inner(leaf, proof[:inner], index)
    return _chain_border_right(digest, proof[inner:])


def verify_consistency(
    *, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the tree of ``size1``, ``root1``.

    Returns ``None`` when it does; raises :class:`ProofError` otherwise (the message names the
    root that did not match, with both values in hex).
    """
    _check_count("size1", size1)
    _check_count("size2", size2)
    _check_proof(proof)
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        # Compared, never hashed, so no length applies (transparency-dev's vector
        # "sizes-are-equal-one-and-proof-is-empty" has roots of 12 bytes and must pass).
        _check_type("root1", root1)
        _check_type("root2", root2)
        if proof:
            raise ProofError(f"equal sizes need an empty proof, got {len(proof)} hashes")
        _match("root2 (equal sizes)", expected=root2, computed=root1)
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    if not proof:
        raise ProofError("the consistency proof is empty")

    # The proof is the tail of the inclusion proof of leaf size1 - 1 in the tree of size2,
    # from the level of the old tree's rightmost perfect subtree (2**shift leaves) upwards.
    inner, border = _decompose(size1 - 1, size2)
    shift = _trailing_zeros(size1)
    inner -= shift
    if size1 == 1 << shift:
        # The old tree is itself perfect: its root is that subtree, so the proof omits it.
        seed, rest = root1, list(proof)
    else:
        seed, rest = proof[0], list(proof[1:])
    expected = (0 if size1 == 1 << shift else 1) + inner + border
    if len(proof) != expected:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {expected}")

    mask = (size1 - 1) >> shift
    # The old root uses only the left siblings; the new root uses all of them.
    old = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _match("root1", expected=root1, computed=old)
    new = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    _match("root2", expected=root2, computed=new)


# --- the decomposition (transparency-dev/merkle, proof/verify.go) ---------------------------


def _decompose(index: int, size: int) -> tuple[int, int]:
    """How many proof hashes lie below the path's junction with the right border (inner), and
    how many along the border above it (border)."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        # A 0 bit: the path runs through a left child, so the sibling is on the right.
        seed = node_hash(seed, sibling) if (index >> level) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """As :func:`_chain_inner`, but only the left siblings: the old tree has no right ones."""
    for level, sibling in enumerate(proof):
        if (index >> level) & 1 == 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


# --- checks on the input --------------------------------------------------------------------


def _check_count(name: str, value: object) -> None:
    # bool is an int; an index of True is a caller's bug, never a position in a log.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{name} is negative ({value})")


def _check_type(name: str, value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return value


def _check_hash(name: str, value: object) -> None:
    data = _check_type(name, value)
    if len(data) != HASH_SIZE:
        raise ProofError(f"{name} is {len(data)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: object) -> None:
    # bytes is a Sequence too; iterated as a proof it would give integers.
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise TypeError(f"proof must be a sequence of hashes, not {type(proof).__name__}")
    for position, element in enumerate(proof):
        _check_hash(f"proof[{position}]", element)


def _match(name: str, *, expected: bytes, computed: bytes) -> None:
    if computed != expected:
        raise ProofError(f"{name} mismatch: expected {expected.hex()}, computed {computed.hex()}")
