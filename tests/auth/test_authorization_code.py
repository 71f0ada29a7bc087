"""The authorization code grant with PKCE, refresh tokens and person tokens, driven through the
protocol the login pages use (validate_authorization, issue_code), ``POST /oauth/token`` and
the web UI's in-process exchange.

People come from :class:`People`, an in-memory :class:`hub.tokens.people.PersonLookup`: the
accounts implement that protocol from their tables, and these tests check what the authorization
server does with its answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from audit.models import AuditEvent
from auth.code_grant import AuthorizationRequest, AuthorizeError, Grantee
from auth.models import AuthorizationCode, OAuthClient
from auth.people import WEB_CLIENT_ID, Person, Role
from auth.tokens import InvalidToken
from hub.clients.web import WEB_SCOPES, callback_uri, ensure_web_client
from hub.core import db
from hub.directory.clients import Ended
from hub.tokens.service import GrantRefused, IssuedTokens
from hub.trail.context import Context
from tests.fixtures.oauth import (
    ISSUER,
    Hub,
    RegisteredClient,
    hub_settings,
    make_assertion,
    start_hub,
)
from tests.fixtures.secrets import register_secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PARTNER_CALLBACK = "https://app.partner.example/callback"
WEB_CALLBACK = callback_uri(ISSUER)


@dataclass
class People:
    """The accounts' answers, held in memory: who exists, and whose tokens ended."""

    persons: dict[str, Grantee] = field(default_factory=dict)
    ended_tokens: dict[str, Ended] = field(default_factory=dict)

    def grantee(self, session: Session, user_id: str) -> Grantee | None:
        return self.persons.get(user_id)

    def ended(self, session: Session, *, since: datetime) -> Mapping[str, Ended]:
        return dict(self.ended_tokens)

    def add(self, username: str, organisation: str, *roles: Role) -> Person:
        person = Person(
            user_id=str(uuid.uuid4()),
            username=username,
            organisation=organisation,
            roles=frozenset(roles),
            processing_activity="opvang",
        )
        self.persons[person.user_id] = Grantee(person)
        return person


@dataclass
class CodeHub:
    hub: Hub
    people: People
    caseworker: Person
    partner_app: RegisteredClient

    @property
    def services(self) -> Any:
        return self.hub.services

    def validate(self, **query: str) -> AuthorizationRequest:
        oauth = self.services.oauth
        with db.transaction(self.services.engine) as session:
            request = oauth.authorization_request(list(query.items()), {})
            result: AuthorizationRequest = oauth.validate_authorization(session, request)
            return result

    def issue(self, request: AuthorizationRequest, person: Person | None = None) -> str:
        with db.transaction(self.services.engine) as session:
            url: str = self.services.oauth.issue_code(session, request, person or self.caseworker)
        return url

    def code(self, client_id: str, redirect_uri: str, **extra: str) -> tuple[str, str]:
        """A fresh code for the caseworker, and its PKCE verifier."""
        verifier = secrets.token_urlsafe(48)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": "s-" + secrets.token_hex(4),
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        url = self.issue(self.validate(**query))
        params = parse_qs(urlsplit(url).query)
        assert params["state"] == [query["state"]]
        assert params["iss"] == [ISSUER]
        return params["code"][0], verifier

    def exchange(self, code: str, verifier: str | None, **extra: str) -> Any:
        """``POST /oauth/token`` as the partner's web app (private_key_jwt)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": PARTNER_CALLBACK,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(self.partner_app),
            **extra,
        }
        if verifier is not None:
            form["code_verifier"] = verifier
        response = self.hub.client.post("/oauth/token", data=form)
        if response.status_code == 200:
            register_secret(response.json()["access_token"], "access token")
            register_secret(response.json()["refresh_token"], "refresh token")
        return response

    def refresh(self, refresh_token: str) -> Any:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(self.partner_app),
        }
        response = self.hub.client.post("/oauth/token", data=form)
        if response.status_code == 200:
            register_secret(response.json()["refresh_token"], "refresh token")
        return response

    def in_process(self, code: str, verifier: str) -> IssuedTokens:
        with db.transaction(self.services.engine) as session:
            tokens: IssuedTokens = self.services.oauth.exchange_code(
                session,
                code=code,
                redirect_uri=WEB_CALLBACK,
                code_verifier=verifier,
                audit=self.services.audit,
                context=Context.new(source_address="127.0.0.1"),
            )
        register_secret(tokens.access_token, "access token")
        register_secret(tokens.refresh_token, "refresh token")
        return tokens

    def api(self, token: str) -> int:
        response = self.hub.client.get(
            "/api/v1/organisations", headers={"Authorization": f"Bearer {token}"}
        )
        return int(response.status_code)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def assert_oauth_error(response: Any, status: int, error: str) -> None:
    """RFC 6749 §5.2: the error JSON, never problem+json, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def code_hub(tmp_path: Path, fresh_database_url: str) -> Iterator[CodeHub]:
    people = People()
    settings = hub_settings(tmp_path, fresh_database_url, client_secret_auth=True)
    for hub in start_hub(settings, people=people):
        with db.transaction(hub.services.engine) as session:
            ensure_web_client(session, issuer=ISSUER)
        partner_app = hub.register(organisation="GM0363", scopes="documents:read documents:write")
        with db.transaction(hub.services.engine) as session:
            row = session.get(OAuthClient, partner_app.client_id)
            assert row is not None
            row.redirect_uris = PARTNER_CALLBACK
        caseworker = people.add("gm0363.medewerker", "GM0363", Role.CASEWORKER)
        yield CodeHub(hub, people, caseworker, partner_app)


# -- the authorization request -----------------------------------------------------------------


def _query(client_id: str = WEB_CLIENT_ID, **changes: str | None) -> dict[str, str]:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": WEB_CALLBACK,
        "state": "xyz",
        "code_challenge": s256("v" * 43),
        "code_challenge_method": "S256",
        **changes,
    }
    return {k: v for k, v in query.items() if v is not None}


def _refused(code_hub: CodeHub, **query: str) -> AuthorizeError:
    with pytest.raises(AuthorizeError) as refused:
        code_hub.validate(**query)
    return refused.value


def _redirected_error(refusal: AuthorizeError) -> dict[str, list[str]]:
    assert refusal.location is not None, refusal.description
    assert refusal.location.startswith(WEB_CALLBACK + "?")
    return parse_qs(urlsplit(refusal.location).query)


def test_a_valid_request_is_accepted(code_hub: CodeHub) -> None:
    request = code_hub.validate(**_query(scope="documents:read"))
    assert request.client_id == WEB_CLIENT_ID
    assert request.redirect_uri == WEB_CALLBACK
    assert request.state == "xyz"
    assert request.scope == "documents:read"


def test_missing_pkce_is_refused_with_a_redirect(code_hub: CodeHub) -> None:
    refusal = _refused(code_hub, **_query(code_challenge=None, code_challenge_method=None))
    params = _redirected_error(refusal)
    assert params["error"] == ["invalid_request"]
    assert params["state"] == ["xyz"]
    assert params["iss"] == [ISSUER]


def test_the_plain_method_is_refused(code_hub: CodeHub) -> None:
    refusal = _refused(code_hub, **_query(code_challenge="v" * 43, code_challenge_method="plain"))
    assert _redirected_error(refusal)["error"] == ["invalid_request"]


def test_a_challenge_without_its_method_is_refused_as_plain(code_hub: CodeHub) -> None:
    refusal = _refused(code_hub, **_query(code_challenge_method=None))
    assert _redirected_error(refusal)["error"] == ["invalid_request"]


def test_missing_state_is_refused(code_hub: CodeHub) -> None:
    refusal = _refused(code_hub, **_query(state=None))
    params = _redirected_error(refusal)
    assert params["error"] == ["invalid_request"]
    assert "state" not in params


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        "https://evil.example/login/callback",
        WEB_CALLBACK + "/",
        WEB_CALLBACK + "?x=1",
        WEB_CALLBACK.upper(),
    ],
)
def test_a_redirect_uri_that_is_not_registered_is_shown_never_redirected(
    code_hub: CodeHub, redirect_uri: str | None
) -> None:
    refusal = _refused(code_hub, **_query(redirect_uri=redirect_uri))
    assert refusal.location is None
    assert refusal.error == "invalid_request"
    assert "evil" not in refusal.description


@pytest.mark.parametrize("client_id", [None, "no-such-client", "x" * 300])
def test_an_unknown_client_is_shown_never_redirected(
    code_hub: CodeHub, client_id: str | None
) -> None:
    query = _query()
    query.pop("client_id")
    if client_id is not None:
        query["client_id"] = client_id
    refusal = _refused(code_hub, **query)
    assert refusal.location is None
    assert refusal.error == "invalid_client"


def test_a_system_client_cannot_start_a_login(code_hub: CodeHub) -> None:
    system = code_hub.hub.register(organisation="IOM")
    refusal = _refused(code_hub, **_query(client_id=system.client_id))
    assert refusal.location is None  # it has no redirect URI to send anything to


def test_only_response_type_code(code_hub: CodeHub) -> None:
    refusal = _refused(code_hub, **_query(response_type="token"))
    assert _redirected_error(refusal)["error"] == ["unsupported_response_type"]


def test_an_unknown_scope_is_refused(code_hub: CodeHub) -> None:
    refusal = _refused(code_hub, **_query(scope="documents:read openid"))
    assert _redirected_error(refusal)["error"] == ["invalid_scope"]


# -- issuing and exchanging codes --------------------------------------------------------------


def test_a_code_exchanged_with_its_verifier_gives_a_person_token(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    response = code_hub.exchange(code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["refresh_token"], str)
    claims = claims_of(body["access_token"])
    person = code_hub.caseworker
    assert claims["sub"] == person.user_id
    assert claims["client_id"] == code_hub.partner_app.client_id
    assert claims["username"] == "gm0363.medewerker"
    assert claims["organisation"] == "GM0363"
    assert claims["processing_activity"].endswith(":opvang")
    # The client may ask for read and write; a caseworker holds both (and shares:write, which
    # this client is not registered for).
    assert claims["scope"] == "documents:read documents:write"
    principal = code_hub.services.oauth.validator.validate(body["access_token"])
    assert (principal.user_id, principal.username) == (person.user_id, person.username)
    assert code_hub.api(body["access_token"]) == 200


def test_the_in_process_exchange_issues_and_records_the_person(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    tokens = code_hub.in_process(code, verifier)
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)
    claims = claims_of(tokens.access_token)
    assert claims["client_id"] == WEB_CLIENT_ID
    assert claims["scope"] == "documents:read documents:write shares:write"
    with Session(code_hub.services.engine) as session:
        event = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()  # type: ignore[attr-defined]
    assert event is not None
    assert (event.action, event.outcome) == ("token.issue", "success")
    assert (event.actor_type, event.actor_id) == ("user", "gm0363.medewerker")
    assert (event.organisation, event.actor_client) == ("GM0363", WEB_CLIENT_ID)
    assert event.processing_activity_id is not None
    assert event.processing_activity_id.endswith(":opvang")


def test_the_web_client_cannot_authenticate_over_http(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_CALLBACK,
        "code_verifier": verifier,
        "client_id": WEB_CLIENT_ID,
        "in_process_client": WEB_CLIENT_ID,
    }
    # 401: RFC 6749 §5.2 for a token endpoint that accepts HTTP Basic.
    assert_oauth_error(code_hub.hub.client.post("/oauth/token", data=form), 401, "invalid_client")
    # The code was not touched: the web UI can still exchange it.
    assert code_hub.in_process(code, verifier).access_token


def test_a_wrong_verifier_is_refused(code_hub: CodeHub) -> None:
    code, _ = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    assert_oauth_error(code_hub.exchange(code, secrets.token_urlsafe(48)), 400, "invalid_grant")


def test_a_missing_verifier_is_refused_for_a_confidential_client(code_hub: CodeHub) -> None:
    code, _ = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    assert_oauth_error(code_hub.exchange(code, None), 400, "invalid_request")


def test_another_redirect_uri_at_the_exchange_is_refused(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    response = code_hub.exchange(code, verifier, redirect_uri=PARTNER_CALLBACK + "/other")
    assert_oauth_error(response, 400, "invalid_grant")


def test_a_code_is_used_once_and_its_replay_revokes_what_it_issued(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    first = code_hub.exchange(code, verifier).json()
    assert code_hub.api(first["access_token"]) == 200
    assert_oauth_error(code_hub.exchange(code, verifier), 400, "invalid_grant")
    assert code_hub.api(first["access_token"]) == 401
    assert_oauth_error(code_hub.refresh(first["refresh_token"]), 400, "invalid_grant")


def test_an_expired_code_is_refused(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    with db.transaction(code_hub.services.engine) as session:
        session.execute(
            update(AuthorizationCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_oauth_error(code_hub.exchange(code, verifier), 400, "invalid_grant")


def test_a_code_of_another_client_is_refused(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    response = code_hub.exchange(code, verifier, redirect_uri=WEB_CALLBACK)
    assert_oauth_error(response, 400, "invalid_grant")
    assert code_hub.in_process(code, verifier).access_token  # the web UI's code is still good


def test_an_unknown_code_is_refused_in_process(code_hub: CodeHub) -> None:
    with pytest.raises(GrantRefused) as refused:
        code_hub.in_process("not-a-code", "v" * 43)
    assert refused.value.error == "invalid_grant"


def test_only_the_hash_of_a_code_is_stored(code_hub: CodeHub) -> None:
    code, _ = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    with Session(code_hub.services.engine) as session:
        rows = session.exec(select(AuthorizationCode)).all()
    assert [r.code_hash for r in rows] == [hashlib.sha256(code.encode()).hexdigest()]


def test_a_person_disabled_before_the_exchange_gets_no_token(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    del code_hub.people.persons[code_hub.caseworker.user_id]
    assert_oauth_error(code_hub.exchange(code, verifier), 400, "invalid_grant")


# -- scopes ----------------------------------------------------------------------------------------


def test_scopes_are_cut_to_the_persons_roles(code_hub: CodeHub) -> None:
    request = code_hub.validate(**_query(scope="documents:read audit:read"))
    code = parse_qs(urlsplit(code_hub.issue(request)).query)["code"][0]
    with Session(code_hub.services.engine) as session:
        row = session.exec(select(AuthorizationCode)).one()
    assert (row.code_hash, row.scope) == (
        hashlib.sha256(code.encode()).hexdigest(),
        "documents:read",
    )


def test_a_person_holding_none_of_the_scopes_asked_for_is_refused(code_hub: CodeHub) -> None:
    request = code_hub.validate(**_query(scope="audit:read"))
    with pytest.raises(AuthorizeError) as refused:
        code_hub.issue(request)
    assert _redirected_error(refused.value)["error"] == ["access_denied"]


def test_an_auditor_gets_only_audit_read(code_hub: CodeHub) -> None:
    auditor = code_hub.people.add("dtv.auditor", "DTV", Role.AUDITOR)
    verifier = "w" * 43
    request = code_hub.validate(**_query(code_challenge=s256(verifier)))
    url = code_hub.issue(request, auditor)
    tokens = code_hub.in_process(parse_qs(urlsplit(url).query)["code"][0], verifier)
    assert tokens.scope == "audit:read"


# -- refresh -------------------------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_token_revokes_the_family(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    first = code_hub.exchange(code, verifier).json()
    second = code_hub.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert claims_of(rotated["access_token"])["sub"] == code_hub.caseworker.user_id
    assert code_hub.api(rotated["access_token"]) == 200
    # The first refresh token comes back: a theft or a replay. The whole login ends.
    assert_oauth_error(code_hub.refresh(first["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(code_hub.refresh(rotated["refresh_token"]), 400, "invalid_grant")
    assert code_hub.api(rotated["access_token"]) == 401
    assert code_hub.api(first["access_token"]) == 401


def test_the_in_process_refresh_rotates(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    tokens = code_hub.in_process(code, verifier)
    with db.transaction(code_hub.services.engine) as session:
        again = code_hub.services.oauth.refresh(
            session,
            refresh_token=tokens.refresh_token,
            audit=code_hub.services.audit,
            context=Context.new(),
        )
    register_secret(again.refresh_token, "refresh token")
    assert again.refresh_token != tokens.refresh_token


def test_a_refresh_token_of_another_client_is_refused(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    tokens = code_hub.in_process(code, verifier)
    assert_oauth_error(code_hub.refresh(tokens.refresh_token), 400, "invalid_grant")


def test_logout_ends_the_login(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    tokens = code_hub.in_process(code, verifier)
    with db.transaction(code_hub.services.engine) as session:
        code_hub.services.oauth.end_login(session, refresh_token=tokens.refresh_token)
    assert code_hub.api(tokens.access_token) == 401
    with db.transaction(code_hub.services.engine) as session, pytest.raises(GrantRefused):
        code_hub.services.oauth.refresh(
            session,
            refresh_token=tokens.refresh_token,
            audit=code_hub.services.audit,
            context=Context.new(),
        )


def test_a_reset_after_the_login_ends_its_refresh_tokens(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(code_hub.partner_app.client_id, PARTNER_CALLBACK)
    first = code_hub.exchange(code, verifier).json()
    person = code_hub.caseworker
    code_hub.people.persons[person.user_id] = Grantee(person, datetime.now(UTC))
    assert_oauth_error(code_hub.refresh(first["refresh_token"]), 400, "invalid_grant")


# -- standing of person tokens -----------------------------------------------------------------


def test_a_disabled_persons_token_stops_acting(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    token = code_hub.in_process(code, verifier).access_token
    validator = code_hub.services.oauth.validator
    validator.validate(token)
    code_hub.people.ended_tokens[code_hub.caseworker.user_id] = Ended(False, None)
    code_hub.services.oauth.standing.invalidate()  # as CUT_OFF seconds passing would
    with pytest.raises(InvalidToken, match="person is disabled"):
        validator.validate(token)


def test_a_token_issued_before_a_reset_stops_acting(code_hub: CodeHub) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    token = code_hub.in_process(code, verifier).access_token
    reset = datetime.now(UTC) + timedelta(seconds=1)
    code_hub.people.ended_tokens[code_hub.caseworker.user_id] = Ended(True, reset)
    code_hub.services.oauth.standing.invalidate()
    with pytest.raises(InvalidToken, match="before its person"):
        code_hub.services.oauth.validator.validate(token)


def test_a_persons_token_stops_acting_when_the_organisation_is_disabled(
    code_hub: CodeHub,
) -> None:
    code, verifier = code_hub.code(WEB_CLIENT_ID, WEB_CALLBACK)
    token = code_hub.in_process(code, verifier).access_token
    admin = code_hub.hub.register(organisation="DTV", scopes="admin")
    response = code_hub.hub.client.patch(
        "/api/v1/organisations/GM0363",
        json={"enabled": False},
        headers={"Authorization": f"Bearer {code_hub.hub.token(admin)}"},
    )
    assert response.status_code == 200, response.text
    code_hub.services.oauth.standing.invalidate()
    assert code_hub.api(token) == 401


# -- client credentials, metadata, the web client --------------------------------------------------


def test_client_credentials_are_unaffected(code_hub: CodeHub) -> None:
    system = code_hub.hub.register(organisation="IOM")
    body = code_hub.hub.token_response(system).json()
    assert "refresh_token" not in body
    assert claims_of(body["access_token"])["sub"] == system.client_id
    # A people's client never gets a token of its own.
    response = code_hub.hub.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(code_hub.partner_app),
        },
    )
    assert_oauth_error(response, 400, "unauthorized_client")


def test_a_system_client_gets_no_refresh(code_hub: CodeHub) -> None:
    system = code_hub.hub.register(organisation="IOM")
    response = code_hub.hub.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "anything",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(system),
        },
    )
    assert_oauth_error(response, 400, "unauthorized_client")


def test_metadata_announces_the_code_flow(code_hub: CodeHub) -> None:
    metadata = code_hub.hub.client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "refresh_token",
    }
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "in_process" not in metadata["token_endpoint_auth_methods_supported"]


def test_the_web_client_follows_the_issuer(code_hub: CodeHub) -> None:
    with db.transaction(code_hub.services.engine) as session:
        assert ensure_web_client(session, issuer="https://hub.example.nl") is None
        row = session.get(OAuthClient, WEB_CLIENT_ID)
        assert row is not None
        assert row.redirect_uris == "https://hub.example.nl/login/callback"
        assert (row.organisation, row.scopes) == ("DTV", WEB_SCOPES)
        assert (row.jwks, row.secret_hash) == (None, None)
