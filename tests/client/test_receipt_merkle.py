"""The partner client's RFC 9162 proof verification (``ketenhub_client.merkle``).

It is an implementation of its own (transparency-dev's inner/border decomposition, where the
hub's ``audit.merkle`` follows the RFC's bit-shifting steps), so it is held to the same
transparency-dev vectors as the hub's, and the two are cross-checked both ways with
hypothesis: every proof the hub generates verifies here, and on altered proofs, other indices
and other sizes both give the same verdict.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle as hub_merkle
from ketenhub_client import merkle
from ketenhub_client.verification_errors import ProofError
from tests.client.serverlog import node_store, root_of

_VECTORS = Path(__file__).resolve().parents[1] / "audit" / "testdata" / "rfc6962"


def _cases(kind: str) -> list[Any]:
    files = sorted((_VECTORS / kind).rglob("*.json"))
    assert files, f"the transparency-dev vectors are missing from {_VECTORS}"
    return [pytest.param(path, id=path.relative_to(_VECTORS).as_posix()) for path in files]


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector_gives_the_stated_verdict(path: Path) -> None:
    vector = json.loads(path.read_text())

    def verify() -> None:
        merkle.verify_inclusion(
            index=vector["leafIdx"],
            size=vector["treeSize"],
            leaf=_b64(vector["leafHash"]),
            proof=[_b64(h) for h in vector["proof"] or []],
            root=_b64(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector_gives_the_stated_verdict(path: Path) -> None:
    vector = json.loads(path.read_text())

    def verify() -> None:
        merkle.verify_consistency(
            size1=vector["size1"],
            size2=vector["size2"],
            root1=_b64(vector["root1"]),
            root2=_b64(vector["root2"]),
            proof=[_b64(h) for h in vector["proof"] or []],
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


def test_the_vectors_hold_both_verdicts() -> None:
    verdicts = {
        json.loads(param.values[0].read_text())["wantErr"]
        for kind in ("inclusion", "consistency")
        for param in _cases(kind)
    }
    assert verdicts == {True, False}


def test_leaf_and_node_hashes_are_rfc6962s() -> None:
    # certificate-transparency's known answer: the root of the one-leaf tree of empty data.
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    left, right = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle.leaf_hash(b"x") == hub_merkle.leaf_hash(b"x")


# --- cross-checks with the hub's implementation ---------------------------------------------


def _leaves(count: int, salt: bytes) -> list[bytes]:
    # Distinct leaves: with duplicates a proof for one index may honestly verify at another.
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(count)]


def _flip(digest: bytes, bit: int) -> bytes:
    raw = bytearray(digest)
    raw[bit // 8] ^= 1 << (bit % 8)
    return bytes(raw)


def _verdict(check: Any) -> bool:
    try:
        check()
    except (ProofError, hub_merkle.VerificationError):
        return False
    return True


_sizes = st.integers(min_value=1, max_value=260)


@settings(max_examples=150, deadline=None)
@given(size=_sizes, salt=st.binary(max_size=6), data=st.data())
def test_every_inclusion_proof_of_the_hub_verifies_here(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    leaves = _leaves(size, salt)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = hub_merkle.inclusion_proof(index, size, node_store(leaves))
    merkle.verify_inclusion(
        index=index, size=size, leaf=leaves[index], proof=proof, root=root_of(leaves)
    )


@settings(max_examples=150, deadline=None)
@given(size=_sizes, salt=st.binary(max_size=6), data=st.data())
def test_every_consistency_proof_of_the_hub_verifies_here(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    leaves = _leaves(size, salt)
    size1 = data.draw(st.integers(1, size), label="size1")
    proof = hub_merkle.consistency_proof(size1, size, node_store(leaves))
    merkle.verify_consistency(
        size1=size1,
        size2=size,
        root1=root_of(leaves[:size1]),
        root2=root_of(leaves),
        proof=proof,
    )


@settings(max_examples=200, deadline=None)
@given(size=_sizes, salt=st.binary(max_size=6), data=st.data())
def test_both_give_the_same_verdict_on_altered_inclusion_proofs(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    leaves = _leaves(size, salt)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = hub_merkle.inclusion_proof(index, size, node_store(leaves))
    claimed_index = data.draw(st.sampled_from([index, index + 1, index - 1, size]), label="at")
    claimed_size = data.draw(st.sampled_from([size, size + 1, size - 1, 2 * size]), label="n")
    how = data.draw(st.sampled_from(["keep", "flip", "drop", "extra"]), label="alteration")
    if how == "flip" and proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        proof[position] = _flip(proof[position], data.draw(st.integers(0, 255), label="bit"))
    elif how == "drop" and proof:
        proof.pop(data.draw(st.integers(0, len(proof) - 1), label="dropped"))
    elif how == "extra":
        proof.append(leaves[0])
    root = root_of(leaves)
    ours = _verdict(
        lambda: merkle.verify_inclusion(
            index=claimed_index, size=claimed_size, leaf=leaves[index], proof=proof, root=root
        )
    )
    theirs = _verdict(
        lambda: hub_merkle.verify_inclusion(
            leaf_index=claimed_index,
            tree_size=claimed_size,
            leaf_hash=leaves[index],
            proof=proof,
            root=root,
        )
    )
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, 260), salt=st.binary(max_size=6), data=st.data())
def test_both_give_the_same_verdict_on_altered_consistency_proofs(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    leaves = _leaves(size, salt)
    size1 = data.draw(st.integers(1, size - 1), label="size1")
    proof = hub_merkle.consistency_proof(size1, size, node_store(leaves))
    claimed1 = data.draw(st.sampled_from([size1, size1 + 1, max(size1 - 1, 0)]), label="m")
    claimed2 = data.draw(st.sampled_from([size, size - 1, size + 1]), label="n")
    how = data.draw(st.sampled_from(["keep", "flip", "drop", "extra"]), label="alteration")
    if how == "flip":
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        proof[position] = _flip(proof[position], data.draw(st.integers(0, 255), label="bit"))
    elif how == "drop":
        proof.pop(data.draw(st.integers(0, len(proof) - 1), label="dropped"))
    elif how == "extra":
        proof.insert(0, leaves[0])
    root1, root2 = root_of(leaves[:size1]), root_of(leaves)
    ours = _verdict(
        lambda: merkle.verify_consistency(
            size1=claimed1, size2=claimed2, root1=root1, root2=root2, proof=proof
        )
    )
    theirs = _verdict(
        lambda: hub_merkle.verify_consistency(
            size1=claimed1, size2=claimed2, root1=root1, root2=root2, proof=proof
        )
    )
    assert ours == theirs
    if how == "keep" and (claimed1, claimed2) == (size1, size):
        assert ours


# --- named failures ------------------------------------------------------------------------


def test_a_forked_tree_fails_consistency_naming_the_root_that_differs() -> None:
    leaves = _leaves(10, b"a")
    fork = leaves[:6] + _leaves(4, b"b")
    proof = hub_merkle.consistency_proof(8, 10, node_store(fork))
    with pytest.raises(ProofError, match="root2 mismatch"):
        merkle.verify_consistency(
            size1=8, size2=10, root1=root_of(leaves[:8]), root2=root_of(fork), proof=proof
        )


def test_equal_sizes_with_different_roots_fail() -> None:
    a, b = root_of(_leaves(5, b"a")), root_of(_leaves(5, b"b"))
    with pytest.raises(ProofError, match="equal sizes"):
        merkle.verify_consistency(size1=5, size2=5, root1=a, root2=b, proof=[])


def test_a_consistency_proof_from_the_empty_tree_is_refused() -> None:
    root = root_of(_leaves(3, b""))
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(
            size1=0, size2=3, root1=hashlib.sha256().digest(), root2=root, proof=[]
        )


def test_a_shrinking_tree_is_refused() -> None:
    root = root_of(_leaves(3, b""))
    with pytest.raises(ProofError, match="smaller"):
        merkle.verify_consistency(size1=4, size2=3, root1=root, root2=root, proof=[])


def test_an_index_outside_the_tree_is_refused() -> None:
    leaves = _leaves(4, b"")
    with pytest.raises(ProofError, match="outside"):
        merkle.verify_inclusion(index=4, size=4, leaf=leaves[0], proof=[], root=root_of(leaves))


def test_a_proof_hash_of_the_wrong_length_is_refused() -> None:
    leaves = _leaves(2, b"")
    with pytest.raises(ProofError, match=r"proof\[0\] is 31 bytes"):
        merkle.verify_inclusion(
            index=0, size=2, leaf=leaves[0], proof=[leaves[1][:31]], root=root_of(leaves)
        )


def test_a_bool_index_is_a_type_error_not_a_finding() -> None:
    leaves = _leaves(2, b"")
    with pytest.raises(TypeError):
        merkle.verify_inclusion(
            index=True, size=2, leaf=leaves[1], proof=[leaves[0]], root=root_of(leaves)
        )
