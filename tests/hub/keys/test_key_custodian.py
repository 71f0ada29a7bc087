"""The key custodian on a key provider that is not the local key ring.

The hub must depend on the ``KeyProvider`` protocol only, so that a KMS-backed provider can
replace the key file. :class:`AesGcmProvider` is such a provider: another implementation, with
its own blob layout and its keys in memory, doing real AES-256-GCM with ``cryptography``. A hub
built on it uploads and serves documents, and its custodian rotates, re-wraps and retires KEKs
with everything sealed under them (data keys, signing keys, audit keys, v-number keys,
web-session keys), on both backend pairs.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import Session, col, select

from audit.events import Action
from audit.models import AuditEvent
from auth import totp
from auth.people import Role
from hub.cli.console import operator_recorder
from hub.core import db
from hub.keys.custodian import RetireRefused
from hub.notifications.sealed_secrets import reveal
from hub.runtime import Services
from hub.tables.webhooks import WebhookSubscription
from hub.trail.context import Context
from storage.errors import IntegrityError, KeyRingError, KeyUsageExhausted, UnknownKeyId
from storage.keys import KekInfo, KeyProvider, LocalKeyRing, WrappedKey
from tests.fixtures.documents import DOCUMENT_BACKENDS, DocumentHub, pdf, running_documents_hub
from tests.fixtures.secrets import register_secret

SECRET_KINDS = {
    "signing keys": 1,
    "audit keys": 2,
    "v-number keys": 2,
    "user factor secrets": 2,  # one enrolled, one pending (see _people)
    "web-session keys": 1,  # made by the first web session (see _web_session)
    "webhook secrets": 1,  # a partner's subscription (see _webhook)
}
PASSWORD = "a passphrase for the custodian"


def _people(services: Services) -> str:
    """An enrolled person (returns their TOTP secret) and one whose enrolment waits."""
    context = Context.operator()
    with db.transaction(services.engine) as session:
        services.accounts.ensure_demo_user(
            session,
            organisation="IOM",
            username="iom.enrolled",
            roles=[Role.CASEWORKER],
            processing_activity="terugkeer",
            password=PASSWORD,
            totp_secret=(secret := totp.new_secret()),
            context=context,
        )
        pending = services.accounts.add_user(
            session,
            organisation="IOM",
            username="iom.pending",
            roles=[Role.CASEWORKER],
            processing_activity="terugkeer",
            context=context,
        )
        services.accounts.begin_enrolment(session, user_id=pending.person.user_id)
    register_secret(secret, "TOTP secret")
    return secret


def _web_session(services: Services) -> str:
    """A visitor's web session (its cookie), as ``GET /login`` starts one."""
    with db.transaction(services.engine) as session:
        web, cookie = services.web_sessions.start(session, now=datetime.now(UTC))
        web.progress["next"] = "/documents"
        services.web_sessions.save(session, web, now=datetime.now(UTC))
    return cookie


def _webhook(hub: DocumentHub) -> tuple[str, str]:
    """A partner's webhook subscription: its id and its signing secret (shown once)."""
    response = hub.client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.org/in"}, headers=hub.auth("IOM")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    register_secret(body["secret"], "webhook secret")
    return body["id"], body["secret"]


def _webhook_secret(services: Services, subscription_id: str) -> str:
    with Session(services.engine) as session:
        row = session.get(WebhookSubscription, uuid.UUID(subscription_id))
        assert row is not None
        return reveal(services.keys, row)


def _web_progress(services: Services, cookie: str) -> object:
    with db.transaction(services.engine) as session:
        web = services.web_sessions.load(session, cookie, now=datetime.now(UTC))
        return None if web is None else web.progress


def _logs_in(services: Services, secret: str) -> None:
    context = Context.new()
    with db.transaction(services.engine) as session:
        ok = services.accounts.check_password(
            session, username="iom.enrolled", password=PASSWORD, context=context
        )
        code = totp.code_at(secret, totp.step_at(datetime.now(UTC)))
        services.accounts.check_code(session, user_id=ok.person.user_id, code=code, context=context)


class AesGcmProvider:
    """A key provider of its own: KEKs in memory, blob = nonce(12) || AES-256-GCM(KEK, ...).

    The associated data is a different encoding from the local ring's, so nothing here can
    lean on that format: ``use || kek id || what the caller binds``, each length-prefixed.
    """

    def __init__(self, *, wrap_limit: int = 1000) -> None:
        self._lock = threading.Lock()
        self._keks: dict[str, tuple[bytes, datetime]] = {}
        self._order: list[str] = []
        self._wraps: dict[str, int] = {}
        self._limit = wrap_limit
        self.rotate()

    @property
    def wrap_limit(self) -> int:
        return self._limit

    def current_kek_id(self) -> str:
        with self._lock:
            return self._order[-1]

    def keks(self) -> Sequence[KekInfo]:
        with self._lock:
            return [
                KekInfo(kek_id, self._keks[kek_id][1], kek_id == self._order[-1])
                for kek_id in self._order
            ]

    def rotate(self) -> str:
        with self._lock:
            kek_id = f"mem-{secrets.token_hex(6)}"
            self._keks[kek_id] = (AESGCM.generate_key(bit_length=256), datetime.now(UTC))
            self._order.append(kek_id)
            return kek_id

    def retire(self, kek_id: str) -> None:
        with self._lock:
            if kek_id not in self._keks:
                raise UnknownKeyId(f"no key-encryption key with id {kek_id!r}")
            if kek_id == self._order[-1]:
                raise KeyRingError("the current key-encryption key cannot be retired")
            del self._keks[kek_id]
            self._order.remove(kek_id)

    def check(self) -> None:
        with self._lock:
            if not self._order:
                raise KeyRingError("no key-encryption key")

    def seed_wrap_counts(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            for kek_id, count in counts.items():
                self._wraps[kek_id] = max(self._wraps.get(kek_id, 0), count)

    def wrap(
        self, dek: bytes, *, document_id: uuid.UUID, version: int, dek_id: bytes
    ) -> WrappedKey:
        return self._encrypt(dek, b"dek", document_id.bytes + version.to_bytes(4, "big") + dek_id)

    def unwrap(
        self, wrapped: WrappedKey, *, document_id: uuid.UUID, version: int, dek_id: bytes
    ) -> bytes:
        bound = document_id.bytes + version.to_bytes(4, "big") + dek_id
        return self._decrypt(wrapped, b"dek", bound)

    def seal(self, secret: bytes, *, purpose: str) -> WrappedKey:
        return self._encrypt(secret, b"secret", purpose.encode())

    def unseal(self, sealed: WrappedKey, *, purpose: str) -> bytes:
        return self._decrypt(sealed, b"secret", purpose.encode())

    @staticmethod
    def _aad(use: bytes, kek_id: str, bound: bytes) -> bytes:
        parts = (use, kek_id.encode(), bound)
        return b"".join(len(part).to_bytes(2, "big") + part for part in parts)

    def _encrypt(self, plaintext: bytes, use: bytes, bound: bytes) -> WrappedKey:
        with self._lock:
            kek_id = self._order[-1]
            if self._wraps.get(kek_id, 0) >= self._limit:
                raise KeyUsageExhausted(f"{kek_id} has wrapped its limit")
            self._wraps[kek_id] = self._wraps.get(kek_id, 0) + 1
            key = self._keks[kek_id][0]
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext, self._aad(use, kek_id, bound))
        return WrappedKey(kek_id, nonce + sealed)

    def _decrypt(self, wrapped: WrappedKey, use: bytes, bound: bytes) -> bytes:
        with self._lock:
            entry = self._keks.get(wrapped.kek_id)
        if entry is None:
            raise UnknownKeyId(f"no key-encryption key with id {wrapped.kek_id!r}")
        nonce, sealed = wrapped.blob[:12], wrapped.blob[12:]
        try:
            return AESGCM(entry[0]).decrypt(nonce, sealed, self._aad(use, wrapped.kek_id, bound))
        except InvalidTag:
            raise IntegrityError from None


@pytest.fixture
def provider() -> AesGcmProvider:
    return AesGcmProvider()


@pytest.fixture(params=DOCUMENT_BACKENDS)
def custodian_hub(
    request: pytest.FixtureRequest, tmp_path: Path, provider: AesGcmProvider
) -> Iterator[DocumentHub]:
    """The demo hub on each backend pair, its keys held by ``provider``."""
    yield from running_documents_hub(request, tmp_path, keys=provider)


def _key_events(services: Services) -> list[tuple[str, str | None]]:
    with Session(services.engine) as session:
        rows = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).startswith("key."))
            .order_by(col(AuditEvent.seq))
        ).all()
        return [(row.action, row.resource_id) for row in rows]


def test_the_provider_is_a_key_provider_and_not_the_key_ring(provider: AesGcmProvider) -> None:
    assert isinstance(provider, KeyProvider)
    assert not isinstance(provider, LocalKeyRing)


def test_a_hub_on_another_provider_serves_documents_across_rotate_rewrap_retire(
    custodian_hub: DocumentHub, provider: AesGcmProvider
) -> None:
    services = custodian_hub.hub.services
    assert services.keys is provider
    first = provider.current_kek_id()
    content = pdf(300_000)
    document = custodian_hub.uploaded("IOM", content)
    secret = _people(services)
    cookie = _web_session(services)
    webhook, webhook_secret = _webhook(custodian_hub)

    with db.transaction(services.engine) as session:
        (usage,) = services.custodian.inventory(session)
    assert (usage.kek.kek_id, usage.kek.current, usage.wraps, usage.data_keys) == (
        first,
        True,
        1,
        1,
    )
    assert usage.secrets == SECRET_KINDS

    with db.transaction(services.engine) as session:
        previous, second = services.custodian.rotate_kek(
            session, recorder=operator_recorder(services)
        )
    assert (previous, provider.current_kek_id()) == (first, second)
    # Rotated but not re-wrapped: the old KEK still opens the document and cannot go yet.
    assert custodian_hub.content("IOM", document["id"]).content == content
    with pytest.raises(RetireRefused, match="signing"), db.transaction(services.engine) as session:
        services.custodian.retire(session, first, recorder=operator_recorder(services))

    with db.transaction(services.engine) as session:
        moved = services.custodian.rewrap(
            session, recorder=operator_recorder(services), batch_size=1
        )
    assert (moved.kek_id, moved.data_keys, dict(moved.secrets)) == (second, 1, SECRET_KINDS)
    with db.transaction(services.engine) as session:
        old, new = services.custodian.inventory(session)
    assert (old.data_keys, sum(old.secrets.values())) == (0, 0)
    assert (new.wraps, new.data_keys, new.secrets) == (1, 1, SECRET_KINDS)

    with db.transaction(services.engine) as session:
        services.custodian.retire(session, first, recorder=operator_recorder(services))
    assert [k.kek_id for k in provider.keks()] == [second]
    # Every cached key is read again, as a replica does when its cache expires: the re-sealed
    # signing key issues a new token, the audit keys record, the v-number keys index and seal.
    for cached in (
        services.oauth.signing,
        services.audit.keys,
        services.subjects,
        services.session_keys,
    ):
        cached.invalidate()
    _logs_in(services, secret)  # the re-sealed factor still opens
    assert _web_progress(services, cookie) == {"next": "/documents"}  # and the session key
    assert _webhook_secret(services, webhook) == webhook_secret  # and the webhook's secret
    served = custodian_hub.content("IOM", document["id"])
    assert served.status_code == 200
    assert served.content == content
    again = custodian_hub.upload("IOM", pdf(1000, seed=1), scopes="documents:write")
    assert again.status_code == 201, again.text
    assert _key_events(services) == [
        (Action.KEY_ROTATE, second),
        (Action.KEY_REWRAP, second),
        (Action.KEY_RETIRE, first),
    ]


def test_the_current_kek_is_never_retired(custodian_hub: DocumentHub) -> None:
    services = custodian_hub.hub.services
    current = services.keys.current_kek_id()
    with pytest.raises(RetireRefused, match="rotate"), db.transaction(services.engine) as session:
        services.custodian.retire(session, current, recorder=operator_recorder(services))
    assert [k.kek_id for k in services.keys.keks()] == [current]
    assert _key_events(services) == []


def test_a_kek_that_a_live_data_key_needs_is_not_retired(custodian_hub: DocumentHub) -> None:
    services = custodian_hub.hub.services
    document = custodian_hub.uploaded("IOM", pdf(2000))
    first = services.keys.current_kek_id()
    with db.transaction(services.engine) as session:
        services.custodian.rotate_kek(session, recorder=operator_recorder(services))
        # The hub's own secrets moved, the document's data key not: the vault refuses.
        for kind in services.custodian.secrets:
            kind.reseal(session)
    with pytest.raises(KeyRingError, match="1 data"), db.transaction(services.engine) as session:
        services.custodian.retire(session, first, recorder=operator_recorder(services))
    assert first in {k.kek_id for k in services.keys.keks()}
    assert custodian_hub.content("IOM", document["id"]).status_code == 200
    # The refused retirement left no record; the rotation kept its own.
    assert [action for action, _ in _key_events(services)] == [Action.KEY_ROTATE]


def test_rotating_the_signing_and_audit_keys_is_recorded(custodian_hub: DocumentHub) -> None:
    services = custodian_hub.hub.services
    with db.transaction(services.engine) as session:
        signing = services.custodian.rotate_signing_key(
            session, recorder=operator_recorder(services)
        )
        audit = services.custodian.rotate_audit_key(session, recorder=operator_recorder(services))
        web = services.custodian.rotate_session_key(session, recorder=operator_recorder(services))
    assert _key_events(services) == [
        (Action.KEY_ROTATE, signing.kid),
        (Action.KEY_ROTATE, audit.encoded()),
        (Action.KEY_ROTATE, web),
    ]
    with db.transaction(services.engine) as session:
        (usage,) = services.custodian.inventory(session)
    # Both signing keys are live (the previous one stays published); one more audit key.
    assert usage.secrets == {
        "signing keys": 2,
        "audit keys": 3,
        "v-number keys": 2,
        "user factor secrets": 0,
        "web-session keys": 1,
        "webhook secrets": 0,
    }
