"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and proof verification.

This is the pure log mechanism under the audit trail: it knows nothing about what is logged, and
imports only the standard library. Its hashing follows RFC 6962 §2.1, restated in RFC 9162 §2.1:

* leaf hash ``MTH({d}) = SHA-256(0x00 || d)`` (:func:`leaf_hash`);
* node hash ``SHA-256(0x01 || left || right)`` (:func:`node_hash`);
* the empty tree's hash ``MTH({}) = SHA-256("")``;
* for ``n > 1`` leaves, ``k`` is the largest power of two smaller than ``n`` and
  ``MTH(D[n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))`` (:func:`root_from_leaves`).

The two prefixes are domain separation: without them a leaf whose data is ``left || right`` of
some interior node would hash to that node, and a proof could present an interior node as a
leaf (the second-preimage attack on plain Merkle trees).

Storage model
-------------
A *perfect subtree* is addressed as ``(level, index)``: it covers the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Once all its
leaves exist a perfect subtree never changes again, because the log is append-only. So its hash
can be written once, as events are appended (:class:`MerkleAccumulator` reports each one as it
completes), and read back by any later proof, whatever the tree size. Proof generation takes a
callable ``node(level, index) -> bytes`` that returns such a stored hash; it is only ever asked
for subtrees that are complete in the tree the proof is for. The hash of a right-edge subtree
that is not perfect is derived from the perfect subtrees covering it (:func:`subtree_root`), so
every proof costs ``O(log n)`` reads and never a rebuild of the tree.

Proofs
------
* An inclusion proof (RFC 9162 §2.1.3) is the audit path ``PATH(m, D[n])``: the sibling hashes
  from leaf ``m`` up to the root of the tree of size ``n``, bottom first. The verifier folds them
  into the leaf hash, left or right as the bits of ``m`` and ``n - 1`` dictate (§2.1.3.2).
* A consistency proof (RFC 9162 §2.1.4) ``PROOF(m, D[n])`` holds the fewest subtree hashes from
  which both ``MTH(D[0:m])`` and ``MTH(D[n])`` can be computed, so a verifier that trusts the old
  root learns that the new tree only appends to the old one (§2.1.4.2).

The verifiers follow RFC 9162's algorithms step by step, plus these edge cases, which the
transparency-dev/merkle test vectors pin down: equal sizes need an empty proof and equal roots;
a consistency proof from size 0 is refused (it would prove nothing); a leaf index outside the
tree, too short or too long a proof, and any hash that is not 32 bytes are all rejected.

Errors
------
``VerificationError`` is the one error a verifier raises for a proof that does not hold,
whatever the reason. Arguments of the wrong type (``bool`` for an index, ``str`` for a hash)
raise ``TypeError``, and impossible requests to the proof generators raise ``ValueError``:
those are bugs in the caller, not evidence about the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "HASH_SIZE",
    "MerkleAccumulator",
    "NodeReader",
    "TreeNode",
    "VerificationError",
    "consistency_proof",
    "empty_root",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every leaf, node and root hash (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

NodeReader = Callable[[int, int], bytes]
"""``node(level, index)``: the stored hash of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. Only called for complete subtrees."""


class VerificationError(Exception):
    """A Merkle proof, or the roots and sizes it was checked against, does not hold.

    The message says which check failed and, for a hash mismatch, shows the expected and the
    computed value in hex, so an operator can tell a stale checkpoint from a forged proof.
    """


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A perfect subtree that has just become complete: store ``digest`` under
    ``(level, index)``, where the :data:`NodeReader` of later proofs will look for it."""

    level: int
    index: int
    digest: bytes


# --- hashing -----------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``, the RFC 6962 hash of one leaf's data."""
    _require_bytes("data", data)
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``, the RFC 6962 hash of an interior node.

    Both children must be 32-byte hashes: with variable lengths, ``left || right`` could be
    split in more than one way, and two different trees could share a root.
    """
    _require_hash("left", left, ValueError)
    _require_hash("right", right, ValueError)
    return _hash_children(left, right)


def empty_root() -> bytes:
    """Return ``SHA-256("")``, the root of the tree with no leaves (RFC 6962 §2.1)."""
    return hashlib.sha256(b"").digest()


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the Merkle Tree Hash ``MTH`` of a tree with the given leaf hashes, in order.

    Runs in ``O(n)`` hashes and ``O(log n)`` memory through :class:`MerkleAccumulator`, so it is
    fit to rebuild the root of the whole log. The empty tree's root is ``SHA-256("")``.
    """
    accumulator = MerkleAccumulator()
    accumulator.extend(leaf_hashes)
    return accumulator.root()


# --- incremental tree ----------------------------------------------------------------------------


class MerkleAccumulator:
    """An append-only Merkle tree that keeps only its frontier (a compact range from leaf 0).

    Invariant: ``self._frontier`` holds the roots of the perfect subtrees that tile
    ``[0, size)``, largest (leftmost) first; their levels are the set bits of ``size``, in
    descending order. Appending a leaf merges equal-sized neighbours, exactly as a binary
    counter carries, so an append costs ``O(1)`` hashes amortised and ``O(log n)`` at worst.

    The tree never holds leaf data, only 32-byte hashes; the caller decides what a leaf is.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @classmethod
    def resume(cls, size: int, node: NodeReader) -> MerkleAccumulator:
        """Rebuild the accumulator for a tree of ``size`` leaves from its stored nodes.

        Reads one node per set bit of ``size`` (at most ``log2(size) + 1``), so a recorder can
        continue appending after a restart without replaying the log.
        """
        _require_count("size", size)
        accumulator = cls()
        start = 0
        for level in _descending_set_bits(size):
            accumulator._frontier.append(_read_node(node, level, start >> level))
            start += 1 << level
        accumulator._size = size
        return accumulator

    def copy(self) -> MerkleAccumulator:
        """An independent accumulator over the same leaves."""
        twin = MerkleAccumulator()
        twin._size = self._size
        twin._frontier = list(self._frontier)
        return twin

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> list[TreeNode]:
        """Append one leaf hash; return every perfect subtree this append completed.

        The list starts with the leaf itself at ``(0, size_before)`` and climbs one level per
        merge, so storing every returned node keeps the store complete for :data:`NodeReader`.
        """
        _require_hash("leaf_hash", leaf_hash, ValueError)
        index = self._size
        digest = leaf_hash
        completed = [TreeNode(0, index, digest)]
        level = 0
        # Each trailing 1 bit of the old size is a perfect sibling on the left that the new
        # leaf's subtree now equals in size: merge it, as a binary counter carries.
        while index & 1:
            digest = _hash_children(self._frontier.pop(), digest)
            index >>= 1
            level += 1
            completed.append(TreeNode(level, index, digest))
        self._frontier.append(digest)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes without reporting the completed subtrees.

        The same tree as calling :meth:`append` for each, over twice as fast, because
        rebuilding a root (``audit verify``, :func:`root_from_leaves`) needs no nodes to store.
        A bad leaf raises ``TypeError`` or ``ValueError`` and leaves the leaves before it in.
        """
        frontier = self._frontier
        for position, leaf_hash in enumerate(leaf_hashes, start=self._size):
            _require_hash("leaf_hash", leaf_hash, ValueError)
            digest = leaf_hash
            carry = position
            while carry & 1:
                digest = _hash_children(frontier.pop(), digest)
                carry >>= 1
            frontier.append(digest)
            self._size = position + 1

    def root(self) -> bytes:
        """Return the Merkle Tree Hash of the leaves appended so far.

        The RFC 6962 tree over ``[0, size)`` hangs the frontier's subtrees off its right spine,
        so the root is the frontier folded from the right.
        """
        if not self._frontier:
            return empty_root()
        digest = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            digest = _hash_children(left, digest)
        return digest


# --- proof generation ------------------------------------------------------------------------


def subtree_root(start: int, end: int, node: NodeReader) -> bytes:
    """Return ``MTH(D[start:end])`` for a subtree of the RFC 6962 tree, from perfect subtrees.

    ``[start, end)`` must be a node of some RFC 6962 tree: non-empty, with ``start`` a multiple
    of the smallest power of two that is ``>= end - start``. Such a range splits into aligned
    perfect subtrees whose sizes are the set bits of ``end - start``, largest first, and its
    hash is those folded from the right (as in :meth:`MerkleAccumulator.root`). Costs one
    ``node`` read per set bit, so at most ``log2(end - start) + 1`` reads.
    """
    _require_count("start", start)
    _require_count("end", end)
    width = end - start
    if width <= 0:
        raise ValueError(f"subtree range [{start}, {end}) is empty")
    if start % (1 << (width - 1).bit_length()):
        raise ValueError(f"[{start}, {end}) is not a subtree of any RFC 6962 tree")
    parts: list[bytes] = []
    offset = start
    for level in _descending_set_bits(width):
        parts.append(_read_node(node, level, offset >> level))
        offset += 1 << level
    digest = parts[-1]
    for left in reversed(parts[:-1]):
        digest = _hash_children(left, digest)
    return digest


def inclusion_proof(leaf_index: int, tree_size: int, node: NodeReader) -> list[bytes]:
    """Return the audit path ``PATH(leaf_index, D[tree_size])`` of RFC 6962 §2.1.1.

    Walks the RFC's recursion from the root down: at each split the leaf lies in one half and
    the other half's hash joins the proof. Left halves are always perfect subtrees (one read);
    a right half is non-perfect only while the walk still follows the tree's right edge, which
    it leaves for good at its first step left, so at most one :func:`subtree_root` costs more
    than one read. Total reads stay below ``2 * log2(tree_size) + 2``.

    The result is ordered bottom-up, as :func:`verify_inclusion` consumes it.
    """
    _require_count("leaf_index", leaf_index)
    _require_count("tree_size", tree_size)
    if leaf_index >= tree_size:
        raise ValueError(f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    top_down: list[bytes] = []
    start, end = 0, tree_size
    while end - start > 1:
        split = start + _largest_power_of_two_below(end - start)
        if leaf_index < split:
            top_down.append(subtree_root(split, end, node))
            end = split
        else:
            top_down.append(subtree_root(start, split, node))
            start = split
    top_down.reverse()
    return top_down


def consistency_proof(size1: int, size2: int, node: NodeReader) -> list[bytes]:
    """Return ``PROOF(size1, D[size2])`` of RFC 6962 §2.1.2, for ``0 < size1 <= size2``.

    Walks ``SUBPROOF(m, D[n], b)`` from the root down, without recursion. Like
    :func:`inclusion_proof` it reads ``O(log size2)`` stored nodes. Equal sizes give the empty
    proof; ``size1 == 0`` is refused because :func:`verify_consistency` refuses it too.
    """
    _require_count("size1", size1)
    _require_count("size2", size2)
    if size1 == 0:
        raise ValueError("a consistency proof from the empty tree proves nothing")
    if size1 > size2:
        raise ValueError(f"size1 ({size1}) is larger than size2 ({size2})")
    top_down: list[bytes] = []
    start, end = 0, size2
    # `whole` is the RFC's flag b: true while [start, end) is still a prefix of the old tree's
    # path from the root, whose hash the verifier already knows as root1.
    whole = True
    while True:
        if size1 == end:
            if not whole:
                top_down.append(subtree_root(start, end, node))
            break
        split = start + _largest_power_of_two_below(end - start)
        if size1 <= split:
            top_down.append(subtree_root(split, end, node))
            end = split
        else:
            top_down.append(subtree_root(start, split, node))
            start = split
            whole = False
    top_down.reverse()
    return top_down


# --- proof verification ----------------------------------------------------------------------


def verify_inclusion(
    *, leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``leaf_index`` of the tree of ``tree_size`` with ``root``.

    Implements RFC 9162 §2.1.3.2. Returns ``None`` when the proof holds; otherwise raises
    :class:`VerificationError` (leaf outside the tree, proof of the wrong length, a hash that
    is not 32 bytes, or a computed root that differs from ``root``).
    """
    _require_int("leaf_index", leaf_index)
    _require_int("tree_size", tree_size)
    _require_proof(proof)
    _require_bytes("leaf_hash", leaf_hash)
    _require_bytes("root", root)
    if leaf_index < 0 or tree_size < 0:
        raise VerificationError(f"negative leaf index {leaf_index} or tree size {tree_size}")
    # Step 1.
    if leaf_index >= tree_size:
        raise VerificationError(f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    _check_hash_length("leaf_hash", leaf_hash)
    _check_hash_length("root", root)
    _check_proof_lengths(proof)
    expected_length = _inclusion_path_length(leaf_index, tree_size)

    # Steps 2 and 3.
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            raise VerificationError(
                f"inclusion proof has {len(proof)} hashes, expected {expected_length}"
            )
        if fn & 1 or fn == sn:
            r = _hash_children(p, r)
            # "If LSB(fn) is not set, right-shift both until LSB(fn) is set or fn is 0."
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _hash_children(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise VerificationError(
            f"inclusion proof has {len(proof)} hashes, expected {expected_length}"
        )
    _check_match("root", expected=root, computed=r)


def verify_consistency(
    *, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the tree of ``size1``, ``root1``.

    Implements RFC 9162 §2.1.4.2 for ``0 < size1 < size2``. With ``size1 == size2`` the proof
    must be empty and the roots byte-for-byte equal; they are compared, never hashed, so no
    length applies (the vector ``sizes-are-equal-one-and-proof-is-empty`` requires exactly
    this). ``size1 == 0`` is refused: every tree extends the empty one, so such a "proof" would
    let a log vouch for nothing. Raises :class:`VerificationError` when the proof fails.
    """
    _require_int("size1", size1)
    _require_int("size2", size2)
    _require_proof(proof)
    _require_bytes("root1", root1)
    _require_bytes("root2", root2)
    if size1 < 0 or size2 < 0:
        raise VerificationError(f"negative tree size: size1={size1}, size2={size2}")
    if size1 > size2:
        raise VerificationError(f"size1 ({size1}) is larger than size2 ({size2})")
    if size1 == 0:
        raise VerificationError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise VerificationError(f"equal sizes need an empty proof, got {len(proof)} hashes")
        if root1 != root2:
            raise VerificationError(
                f"trees of equal size {size1} have different roots: "
                f"root1 {root1.hex()}, root2 {root2.hex()}"
            )
        return
    _check_hash_length("root1", root1)
    _check_hash_length("root2", root2)
    _check_proof_lengths(proof)
    computed1, computed2 = _consistency_roots(size1, size2, root1, proof)
    _check_match("root1", expected=root1, computed=computed1)
    _check_match("root2", expected=root2, computed=computed2)


def _consistency_roots(
    size1: int, size2: int, root1: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 1 to 7 for ``0 < size1 < size2``: return ``(fr, sr)``.

    Raises :class:`VerificationError` when the proof has the wrong number of hashes; the caller
    compares the two computed roots (the rest of step 7).
    """
    wrong_length = (
        f"consistency proof has {len(proof)} hashes, "
        f"expected {_consistency_proof_length(size1, size2)}"
    )
    # Step 1.
    if not proof:
        raise VerificationError(wrong_length)
    # Step 2: a perfect old tree is itself a node of the new tree, so the proof leaves it out.
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Steps 3 and 4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(wrong_length)
        if fn & 1 or fn == sn:
            fr = _hash_children(c, fr)
            sr = _hash_children(c, sr)
            # "If LSB(fn) is not set, right-shift both until LSB(fn) is set or fn is 0."
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7, first part: a proof that ends before reaching the root is too short.
    if sn != 0:
        raise VerificationError(wrong_length)
    return fr, sr


# --- helpers ---------------------------------------------------------------------------------


def _hash_children(left: bytes, right: bytes) -> bytes:
    # Unchecked node_hash for inner loops whose inputs were validated on the way in.
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The RFC's split point ``k``: the largest power of two strictly smaller than ``n > 1``."""
    return 1 << ((n - 1).bit_length() - 1)


def _descending_set_bits(n: int) -> list[int]:
    """The positions of the 1 bits of ``n``, highest first."""
    return [bit for bit in range(n.bit_length() - 1, -1, -1) if n >> bit & 1]


def _inclusion_path_length(leaf_index: int, tree_size: int) -> int:
    # Levels below the point where the leaf's path leaves the right edge each give one sibling;
    # above it, one per perfect subtree to the left of the path (transparency-dev's inner/border).
    inner = (leaf_index ^ (tree_size - 1)).bit_length()
    return inner + (leaf_index >> inner).bit_count()


def _consistency_proof_length(size1: int, size2: int) -> int:
    # The inclusion path of the old tree's last leaf, minus the levels inside the old tree's
    # rightmost perfect subtree, plus that subtree's own hash unless it is the whole old tree.
    trailing_zeros = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 & (size1 - 1) == 0 else 1
    return seed + _inclusion_path_length(size1 - 1, size2) - trailing_zeros


def _read_node(node: NodeReader, level: int, index: int) -> bytes:
    digest = node(level, index)
    if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
        raise ValueError(f"node({level}, {index}) did not return a {HASH_SIZE}-byte hash")
    return digest


def _check_match(name: str, *, expected: bytes, computed: bytes) -> None:
    if computed != expected:
        raise VerificationError(
            f"{name} mismatch: expected {expected.hex()}, computed {computed.hex()}"
        )


def _check_hash_length(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof_lengths(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _check_hash_length(f"proof[{position}]", element)


def _require_int(name: str, value: object) -> int:
    # bool is an int subclass; True as an index is always a caller's bug, never a position.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _require_count(name: str, value: object) -> int:
    number = _require_int(name, value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {number}")
    return number


def _require_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return value


def _require_hash(name: str, value: object, error: type[Exception]) -> bytes:
    data = _require_bytes(name, value)
    if len(data) != HASH_SIZE:
        raise error(f"{name} must be {HASH_SIZE} bytes, got {len(data)}")
    return data


def _require_proof(proof: object) -> None:
    # A bytes object is a Sequence too; taken as a proof it would iterate as integers.
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise TypeError(f"proof must be a sequence of bytes, not {type(proof).__name__}")
    for position, element in enumerate(proof):
        _require_bytes(f"proof[{position}]", element)
