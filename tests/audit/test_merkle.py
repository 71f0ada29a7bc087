"""Tests of the RFC 6962 / RFC 9162 Merkle functions in ``audit.merkle``.

Four kinds of evidence, each independent of the code under test:

* every transparency-dev/merkle proof vector in ``shared/testdata/rfc6962`` gives the verdict
  its ``wantErr`` states, and the generators reproduce the vectors' happy-path proofs;
* the certificate-transparency reference roots for the first 0..8 test leaves;
* property tests against a direct transcription of the RFC 6962 §2.1 recursions (``_mth``,
  ``_path``, ``_subproof`` below), over node stores filled by ``MerkleAccumulator``;
* the number of stored nodes a proof reads in a tree of a million leaves, which must stay
  ``O(log n)``: proofs are served from stored subtrees, never by rebuilding the tree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    HASH_SIZE,
    MerkleAccumulator,
    VerificationError,
    consistency_proof,
    empty_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaves,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

# --- an independent reference: RFC 6962 §2.1 written out as recursion -------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1), found by counting up, not by bits."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *hashes*, exactly as RFC 6962 §2.1 defines it."""
    if not leaves:
        return _sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], *, whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2."""
    n = len(leaves)
    if m == n:
        return [] if whole else [_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole=whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], whole=False), _mth(leaves[:k])]


def _leaves(count: int, salt: bytes) -> list[bytes]:
    # Distinct leaves: with duplicates a proof for one index can honestly verify at another.
    return [_sha256(b"\x00" + salt + i.to_bytes(4, "big")) for i in range(count)]


def _node_store(leaves: list[bytes]) -> Callable[[int, int], bytes]:
    """A ``node(level, index)`` reader over the nodes the accumulator reported as completed."""
    store: dict[tuple[int, int], bytes] = {}
    accumulator = MerkleAccumulator()
    for digest in leaves:
        for completed in accumulator.append(digest):
            key = (completed.level, completed.index)
            assert key not in store, "a perfect subtree was reported twice"
            store[key] = completed.digest
    return lambda level, index: store[(level, index)]


def _flip_bit(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


# --- the transparency-dev/merkle vectors ------------------------------------------------------

_REPO_ROOT = Path(__file__).resolve().parents[2]
_TESTDATA_ENV = "KETENHUB_RFC6962_TESTDATA"


# A copy, unchanged, of shared/testdata/rfc6962 (transparency-dev/merkle, Apache-2.0; see its
# README.md), so a clone of the repository alone runs the full suite.
_VENDORED = Path(__file__).resolve().parent / "testdata" / "rfc6962"
_SHARED = _REPO_ROOT.parent / "shared" / "testdata" / "rfc6962"


def _testdata_dir() -> Path:
    override = os.environ.get(_TESTDATA_ENV)
    if override:
        return Path(override)
    return _VENDORED


_MISSING = "missing"


def _vector_params(kind: str) -> list[Any]:
    """One ``pytest.param`` per JSON case under ``<testdata>/<kind>/``, with its path as id.

    A missing directory yields one case that fails with instructions: the vectors are the
    DESIGN.md acceptance test for the proofs, so not finding them must never look like a pass.
    """
    directory = _testdata_dir() / kind
    files = sorted(directory.rglob("*.json")) if directory.is_dir() else []
    if not files:
        return [pytest.param(_MISSING, id=f"{kind}-vectors-missing")]
    return [pytest.param(path, id=path.relative_to(directory.parent).as_posix()) for path in files]


def _load_case(case: Path | str) -> dict[str, Any]:
    if not isinstance(case, Path):
        pytest.fail(
            f"RFC 6962 test vectors not found at {_testdata_dir()}: expected the copy in "
            f"tests/audit/testdata/rfc6962, or {_TESTDATA_ENV} naming the directory holding "
            "inclusion/ and consistency/."
        )
    loaded: dict[str, Any] = json.loads(case.read_text(encoding="utf-8"))
    return loaded


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _b64_list(values: list[str] | None) -> list[bytes]:
    # transparency-dev writes an absent proof as JSON null.
    return [_b64(value) for value in values or []]


@pytest.mark.parametrize("case", _vector_params("inclusion"))
def test_inclusion_vector_gives_the_stated_verdict(case: Path | str) -> None:
    vector = _load_case(case)

    def verify() -> None:
        verify_inclusion(
            leaf_index=vector["leafIdx"],
            tree_size=vector["treeSize"],
            leaf_hash=_b64(vector["leafHash"]),
            proof=_b64_list(vector["proof"]),
            root=_b64(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(VerificationError):
            verify()
    else:
        verify()


@pytest.mark.parametrize("case", _vector_params("consistency"))
def test_consistency_vector_gives_the_stated_verdict(case: Path | str) -> None:
    vector = _load_case(case)

    def verify() -> None:
        verify_consistency(
            size1=vector["size1"],
            size2=vector["size2"],
            root1=_b64(vector["root1"]),
            root2=_b64(vector["root2"]),
            proof=_b64_list(vector["proof"]),
        )

    if vector["wantErr"]:
        with pytest.raises(VerificationError):
            verify()
    else:
        verify()


def test_the_vector_set_has_both_verdicts() -> None:
    # Guards the parametrisation above: a directory of only failing cases (or an empty
    # selection) would let a verifier that rejects everything pass.
    verdicts = {
        _load_case(param.values[0])["wantErr"]
        for kind in ("inclusion", "consistency")
        for param in _vector_params(kind)
    }
    assert verdicts == {True, False}


# --- known answers: certificate-transparency's merkle_tree_test --------------------------------

# The eight test leaves and the roots of each prefix, from certificate-transparency's C++
# merkle_tree_test (also in Trillian's testonly/constants.go). Index 0 is the empty tree.
_CT_LEAF_DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
_CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
_CT_LEAF_HASHES = [_sha256(b"\x00" + data) for data in _CT_LEAF_DATA]


@pytest.mark.parametrize("size", range(len(_CT_ROOTS)))
def test_root_of_the_first_leaves_matches_the_reference(size: int) -> None:
    hashes = [leaf_hash(data) for data in _CT_LEAF_DATA[:size]]
    assert hashes == _CT_LEAF_HASHES[:size]
    assert root_from_leaves(hashes).hex() == _CT_ROOTS[size]
    assert _mth(hashes).hex() == _CT_ROOTS[size]


def test_accumulator_root_after_each_append_matches_the_reference() -> None:
    accumulator = MerkleAccumulator()
    roots = [accumulator.root().hex()]
    for digest in _CT_LEAF_HASHES:
        accumulator.append(digest)
        roots.append(accumulator.root().hex())
    assert roots == _CT_ROOTS
    assert accumulator.size == 8


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert empty_root() == root_from_leaves([]) == _sha256(b"")


def _happy_paths(kind: str) -> list[dict[str, Any]]:
    vectors = [_load_case(param.values[0]) for param in _vector_params(kind)]
    return [vector for vector in vectors if not vector["wantErr"] and vector["proof"]]


def test_generated_inclusion_proofs_equal_the_vectors_happy_paths() -> None:
    # The vectors' happy paths are proofs over the CT leaves above, so the generator must
    # reproduce them hash for hash, not merely produce something that verifies.
    node = _node_store(_CT_LEAF_HASHES)
    vectors = _happy_paths("inclusion")
    assert len(vectors) >= 4
    for vector in vectors:
        index, size = vector["leafIdx"], vector["treeSize"]
        assert _b64(vector["leafHash"]) == _CT_LEAF_HASHES[index]
        assert inclusion_proof(index, size, node) == _b64_list(vector["proof"])


def test_generated_consistency_proofs_equal_the_vectors_happy_paths() -> None:
    node = _node_store(_CT_LEAF_HASHES)
    vectors = _happy_paths("consistency")
    assert len(vectors) >= 4
    for vector in vectors:
        size1, size2 = vector["size1"], vector["size2"]
        assert _b64(vector["root1"]).hex() == _CT_ROOTS[size1]
        assert _b64(vector["root2"]).hex() == _CT_ROOTS[size2]
        assert consistency_proof(size1, size2, node) == _b64_list(vector["proof"])


# --- hashing ----------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    left, right = _CT_LEAF_HASHES[1], _CT_LEAF_HASHES[2]
    assert node_hash(left, right) == _sha256(b"\x01" + left + right)
    assert leaf_hash(left + right) == _sha256(b"\x00" + left + right)
    assert leaf_hash(left + right) != node_hash(left, right)


def test_node_hash_refuses_a_child_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        node_hash(b"\x00" * 31, b"\x00" * 32)


def test_root_from_leaves_refuses_a_leaf_hash_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_leaves([_CT_LEAF_HASHES[0], b"short"])


# --- the accumulator --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(size=st.integers(min_value=0, max_value=300), salt=st.binary(max_size=8))
def test_accumulator_reports_every_perfect_subtree_exactly_once(size: int, salt: bytes) -> None:
    leaves = _leaves(size, salt)
    reported: dict[tuple[int, int], bytes] = {}
    accumulator = MerkleAccumulator()
    for digest in leaves:
        for completed in accumulator.append(digest):
            reported[(completed.level, completed.index)] = completed.digest
    expected = {
        (level, index): _mth(leaves[index << level : (index + 1) << level])
        for level in range(size.bit_length())
        for index in range(size >> level)
    }
    assert reported == expected
    assert accumulator.root() == _mth(leaves)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), size=st.integers(min_value=0, max_value=300), salt=st.binary(max_size=8))
def test_resumed_accumulator_continues_the_same_tree(
    data: st.DataObject, size: int, salt: bytes
) -> None:
    leaves = _leaves(size, salt)
    cut = data.draw(st.integers(min_value=0, max_value=size), label="cut")
    resumed = MerkleAccumulator.resume(cut, _node_store(leaves[:cut]))
    assert resumed.size == cut
    resumed.extend(leaves[cut:])
    assert resumed.size == size
    assert resumed.root() == _mth(leaves)


# --- proofs against the reference, and tampering ----------------------------------------------

_tree_sizes = st.integers(min_value=1, max_value=300)
_salts = st.binary(max_size=8)


@dataclass(frozen=True)
class _InclusionCase:
    leaves: list[bytes]
    index: int
    proof: list[bytes]
    root: bytes


@st.composite
def _inclusion_cases(draw: st.DrawFn) -> _InclusionCase:
    leaves = _leaves(draw(_tree_sizes, label="size"), draw(_salts, label="salt"))
    index = draw(st.integers(min_value=0, max_value=len(leaves) - 1), label="index")
    proof = inclusion_proof(index, len(leaves), _node_store(leaves))
    return _InclusionCase(leaves, index, proof, root_from_leaves(leaves))


@settings(max_examples=60, deadline=None)
@given(case=_inclusion_cases())
def test_generated_inclusion_proof_is_the_rfc_path_and_verifies(case: _InclusionCase) -> None:
    assert case.root == _mth(case.leaves)
    assert case.proof == _path(case.index, case.leaves)
    verify_inclusion(
        leaf_index=case.index,
        tree_size=len(case.leaves),
        leaf_hash=case.leaves[case.index],
        proof=case.proof,
        root=case.root,
    )


@settings(max_examples=60, deadline=None)
@given(case=_inclusion_cases(), data=st.data())
def test_inclusion_proof_with_a_flipped_bit_fails(
    case: _InclusionCase, data: st.DataObject
) -> None:
    if not case.proof:
        return  # a one-leaf tree has no proof hashes to flip
    position = data.draw(st.integers(0, len(case.proof) - 1), label="position")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    proof = list(case.proof)
    proof[position] = _flip_bit(proof[position], bit)
    with pytest.raises(VerificationError, match="root mismatch"):
        verify_inclusion(
            leaf_index=case.index,
            tree_size=len(case.leaves),
            leaf_hash=case.leaves[case.index],
            proof=proof,
            root=case.root,
        )


@settings(max_examples=60, deadline=None)
@given(case=_inclusion_cases(), data=st.data())
def test_inclusion_proof_for_another_index_fails(case: _InclusionCase, data: st.DataObject) -> None:
    other = data.draw(
        st.integers(0, len(case.leaves)).filter(lambda i: i != case.index), label="other"
    )
    with pytest.raises(VerificationError):
        verify_inclusion(
            leaf_index=other,
            tree_size=len(case.leaves),
            leaf_hash=case.leaves[case.index],
            proof=case.proof,
            root=case.root,
        )


@settings(max_examples=60, deadline=None)
@given(case=_inclusion_cases(), data=st.data())
def test_inclusion_proof_does_not_verify_in_a_tree_of_another_size(
    case: _InclusionCase, data: st.DataObject
) -> None:
    # The claim "leaf i is in the tree of size s" is checked against that tree's real root.
    size = len(case.leaves)
    other = data.draw(
        st.integers(case.index + 1, 2 * size + 1).filter(lambda s: s != size), label="other"
    )
    extended = case.leaves + _leaves(max(0, other - size), b"more")
    with pytest.raises(VerificationError):
        verify_inclusion(
            leaf_index=case.index,
            tree_size=other,
            leaf_hash=case.leaves[case.index],
            proof=case.proof,
            root=_mth(extended[:other]),
        )


@dataclass(frozen=True)
class _ConsistencyCase:
    leaves: list[bytes]
    size1: int
    proof: list[bytes]
    root1: bytes
    root2: bytes


@st.composite
def _consistency_cases(draw: st.DrawFn) -> _ConsistencyCase:
    leaves = _leaves(draw(_tree_sizes, label="size2"), draw(_salts, label="salt"))
    size1 = draw(st.integers(min_value=1, max_value=len(leaves)), label="size1")
    proof = consistency_proof(size1, len(leaves), _node_store(leaves))
    return _ConsistencyCase(
        leaves, size1, proof, root_from_leaves(leaves[:size1]), root_from_leaves(leaves)
    )


@settings(max_examples=60, deadline=None)
@given(case=_consistency_cases())
def test_generated_consistency_proof_is_the_rfc_proof_and_verifies(
    case: _ConsistencyCase,
) -> None:
    assert case.root1 == _mth(case.leaves[: case.size1])
    assert case.proof == _subproof(case.size1, case.leaves, whole=True)
    verify_consistency(
        size1=case.size1,
        size2=len(case.leaves),
        root1=case.root1,
        root2=case.root2,
        proof=case.proof,
    )


@settings(max_examples=60, deadline=None)
@given(case=_consistency_cases(), data=st.data())
def test_consistency_proof_with_a_flipped_bit_fails(
    case: _ConsistencyCase, data: st.DataObject
) -> None:
    if not case.proof:
        return  # equal sizes: the empty proof has nothing to flip
    position = data.draw(st.integers(0, len(case.proof) - 1), label="position")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    proof = list(case.proof)
    proof[position] = _flip_bit(proof[position], bit)
    with pytest.raises(VerificationError, match="mismatch"):
        verify_consistency(
            size1=case.size1,
            size2=len(case.leaves),
            root1=case.root1,
            root2=case.root2,
            proof=proof,
        )


@settings(max_examples=60, deadline=None)
@given(case=_consistency_cases(), data=st.data())
def test_consistency_proof_between_other_sizes_fails(
    case: _ConsistencyCase, data: st.DataObject
) -> None:
    # Either size moved, each checked against the real root of the tree of the claimed size.
    # Equal claimed sizes are left out: there the empty proof is honestly valid for any size.
    size2 = len(case.leaves)
    leaves = case.leaves + _leaves(size2 + 1, b"more")
    sizes = st.integers(1, 2 * size2 + 1)
    other1, other2 = data.draw(
        st.tuples(sizes, sizes).filter(
            lambda pair: pair[0] < pair[1] and pair != (case.size1, size2)
        ),
        label="sizes",
    )
    with pytest.raises(VerificationError):
        verify_consistency(
            size1=other1,
            size2=other2,
            root1=_mth(leaves[:other1]),
            root2=_mth(leaves[:other2]),
            proof=case.proof,
        )


# --- cost: O(log n) stored-node reads in a tree of a million leaves ---------------------------

_MILLION = 1_000_000
_READ_BUDGET = math.floor(2 * math.log2(_MILLION) + 2)


@cache
def _uniform_perfect(level: int) -> bytes:
    # A tree whose leaves are all equal has one hash per level, so a consistent node store for
    # a million leaves costs 20 hashes instead of two million.
    if level == 0:
        return leaf_hash(b"audit")
    child = _uniform_perfect(level - 1)
    return node_hash(child, child)


@cache
def _uniform_root(size: int) -> bytes:
    # The reference recursion on sizes alone, valid because every leaf is the same.
    if size == 1:
        return _uniform_perfect(0)
    k = _split(size)
    return _sha256(b"\x01" + _uniform_root(k) + _uniform_root(size - k))


class _CountingNodes:
    def __init__(self, size: int) -> None:
        self.size = size
        self.reads = 0

    def __call__(self, level: int, index: int) -> bytes:
        assert (index + 1) << level <= self.size, "read a subtree that is not complete"
        self.reads += 1
        return _uniform_perfect(level)


@pytest.mark.parametrize(
    "leaf_index", [0, 1, 2, 12_345, 262_143, 524_287, 524_288, 999_998, 999_999]
)
def test_inclusion_proof_in_a_million_leaves_reads_logarithmically_many_nodes(
    leaf_index: int,
) -> None:
    node = _CountingNodes(_MILLION)
    proof = inclusion_proof(leaf_index, _MILLION, node)
    assert node.reads <= _READ_BUDGET
    verify_inclusion(
        leaf_index=leaf_index,
        tree_size=_MILLION,
        leaf_hash=_uniform_perfect(0),
        proof=proof,
        root=_uniform_root(_MILLION),
    )


@pytest.mark.parametrize("size1", [1, 2, 3, 12_345, 524_287, 524_288, 524_289, 999_999])
def test_consistency_proof_to_a_million_leaves_reads_logarithmically_many_nodes(
    size1: int,
) -> None:
    node = _CountingNodes(_MILLION)
    proof = consistency_proof(size1, _MILLION, node)
    assert node.reads <= _READ_BUDGET
    verify_consistency(
        size1=size1,
        size2=_MILLION,
        root1=_uniform_root(size1),
        root2=_uniform_root(_MILLION),
        proof=proof,
    )


# --- verifier edge cases, one named test each -------------------------------------------------

_EIGHT = _CT_LEAF_HASHES
_ROOT8 = bytes.fromhex(_CT_ROOTS[8])
_NODES8 = _node_store(_EIGHT)
_PROOF_5_OF_8 = inclusion_proof(5, 8, _NODES8)


def _verify_5_of_8(**changes: Any) -> None:
    arguments: dict[str, Any] = {
        "leaf_index": 5,
        "tree_size": 8,
        "leaf_hash": _EIGHT[5],
        "proof": _PROOF_5_OF_8,
        "root": _ROOT8,
    }
    arguments.update(changes)
    verify_inclusion(**arguments)


def test_intact_inclusion_proof_verifies() -> None:
    _verify_5_of_8()


def test_inclusion_mismatch_shows_expected_and_computed_root_in_hex() -> None:
    wrong_root = _sha256(b"not the root")
    with pytest.raises(VerificationError) as raised:
        _verify_5_of_8(root=wrong_root)
    message = str(raised.value)
    assert f"expected {wrong_root.hex()}" in message
    assert f"computed {_ROOT8.hex()}" in message


def test_inclusion_refuses_a_leaf_index_at_the_tree_size() -> None:
    with pytest.raises(VerificationError, match="outside"):
        _verify_5_of_8(leaf_index=8)


def test_inclusion_refuses_a_negative_leaf_index() -> None:
    with pytest.raises(VerificationError, match="negative"):
        _verify_5_of_8(leaf_index=-1)


def test_inclusion_refuses_an_empty_tree() -> None:
    with pytest.raises(VerificationError, match="outside"):
        _verify_5_of_8(leaf_index=0, tree_size=0, proof=[], root=empty_root())


def test_inclusion_refuses_a_bool_for_an_index() -> None:
    with pytest.raises(TypeError, match="leaf_index must be an int"):
        _verify_5_of_8(leaf_index=True)


def test_inclusion_refuses_a_proof_with_trailing_garbage() -> None:
    with pytest.raises(VerificationError, match="4 hashes, expected 3"):
        _verify_5_of_8(proof=[*_PROOF_5_OF_8, _EIGHT[0]])


def test_inclusion_refuses_a_proof_with_a_hash_missing() -> None:
    with pytest.raises(VerificationError, match="2 hashes, expected 3"):
        _verify_5_of_8(proof=_PROOF_5_OF_8[:-1])


def test_inclusion_refuses_a_proof_hash_that_is_not_32_bytes() -> None:
    with pytest.raises(VerificationError, match=r"proof\[1\] is 33 bytes"):
        _verify_5_of_8(proof=[_PROOF_5_OF_8[0], _PROOF_5_OF_8[1] + b"\x00", _PROOF_5_OF_8[2]])


def test_inclusion_refuses_a_leaf_hash_that_is_not_32_bytes() -> None:
    with pytest.raises(VerificationError, match="leaf_hash is 0 bytes"):
        _verify_5_of_8(leaf_hash=b"")


def test_inclusion_refuses_a_bytes_object_as_the_proof() -> None:
    with pytest.raises(TypeError, match="proof must be a sequence of bytes"):
        _verify_5_of_8(proof=b"".join(_PROOF_5_OF_8))


def test_consistency_from_the_empty_tree_is_refused() -> None:
    with pytest.raises(VerificationError, match="empty tree"):
        verify_consistency(size1=0, size2=0, root1=empty_root(), root2=empty_root(), proof=[])


def test_consistency_with_size1_above_size2_is_refused() -> None:
    with pytest.raises(VerificationError, match="larger"):
        verify_consistency(size1=8, size2=7, root1=_ROOT8, root2=_ROOT8, proof=[])


def test_consistency_of_equal_sizes_needs_equal_roots() -> None:
    verify_consistency(size1=8, size2=8, root1=_ROOT8, root2=_ROOT8, proof=[])
    other = bytes.fromhex(_CT_ROOTS[7])
    with pytest.raises(VerificationError, match="different roots"):
        verify_consistency(size1=8, size2=8, root1=_ROOT8, root2=other, proof=[])


def test_consistency_of_equal_sizes_refuses_a_non_empty_proof() -> None:
    with pytest.raises(VerificationError, match="empty proof"):
        verify_consistency(size1=8, size2=8, root1=_ROOT8, root2=_ROOT8, proof=[_ROOT8])


def test_consistency_refuses_an_empty_proof_between_different_sizes() -> None:
    root3 = bytes.fromhex(_CT_ROOTS[3])
    with pytest.raises(VerificationError, match="0 hashes, expected"):
        verify_consistency(size1=3, size2=8, root1=root3, root2=_ROOT8, proof=[])


def test_consistency_refuses_a_proof_with_preceding_garbage() -> None:
    root3 = bytes.fromhex(_CT_ROOTS[3])
    proof = consistency_proof(3, 8, _NODES8)
    with pytest.raises(VerificationError, match="hashes, expected"):
        verify_consistency(size1=3, size2=8, root1=root3, root2=_ROOT8, proof=[_ROOT8, *proof])


def test_consistency_mismatch_names_the_root_that_differs() -> None:
    root3 = bytes.fromhex(_CT_ROOTS[3])
    wrong = _sha256(b"forged")
    proof = consistency_proof(3, 8, _NODES8)
    with pytest.raises(VerificationError, match=f"root2 mismatch: expected {wrong.hex()}"):
        verify_consistency(size1=3, size2=8, root1=root3, root2=wrong, proof=proof)


# --- generator argument checks ----------------------------------------------------------------


def test_inclusion_proof_refuses_an_index_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(8, 8, _NODES8)


def test_inclusion_proof_refuses_a_negative_size() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        inclusion_proof(0, -1, _NODES8)


def test_consistency_proof_refuses_the_empty_tree_and_shrinking() -> None:
    with pytest.raises(ValueError, match="empty tree"):
        consistency_proof(0, 8, _NODES8)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(8, 7, _NODES8)


def test_consistency_proof_between_equal_sizes_is_empty() -> None:
    assert consistency_proof(8, 8, _NODES8) == []


def test_generators_refuse_a_bool_for_a_size() -> None:
    with pytest.raises(TypeError, match="tree_size must be an int"):
        inclusion_proof(0, True, _NODES8)


def test_subtree_root_refuses_a_range_that_is_no_subtree() -> None:
    with pytest.raises(ValueError, match="not a subtree"):
        subtree_root(2, 5, _NODES8)
    with pytest.raises(ValueError, match="empty"):
        subtree_root(3, 3, _NODES8)


def test_subtree_root_of_the_right_edge_matches_the_reference() -> None:
    for start, end in [(0, 8), (4, 7), (4, 6), (6, 7), (0, 5)]:
        assert subtree_root(start, end, _NODES8) == _mth(_EIGHT[start:end])


def test_a_node_store_returning_a_bad_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="did not return a 32-byte hash"):
        inclusion_proof(0, 8, lambda level, index: b"\x00" * 31)


def test_the_vendored_vectors_match_the_shared_ones() -> None:
    """Where the team's shared copy is present, ours must be identical to it."""
    if not _SHARED.is_dir():
        return  # a clone on its own: the vendored copy is the reference
    ours = {p.relative_to(_VENDORED): p.read_bytes() for p in _VENDORED.rglob("*") if p.is_file()}
    theirs = {p.relative_to(_SHARED): p.read_bytes() for p in _SHARED.rglob("*") if p.is_file()}
    assert ours == theirs
