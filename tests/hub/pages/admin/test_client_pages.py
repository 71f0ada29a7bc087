"""The partner clients' pages over HTTP with a logged-in administrator, on both backend pairs:
the list with state and last use, registering with a generated key (shown once, and it works)
or a pasted JWK Set, the separation of duties refused on the form, disabling and enabling, each
recorded with the administrator as the actor; nobody else gets in."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import httpx
from joserfc.jwk import ECKey
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.models import OAuthClient
from auth.people import Role
from hub.core import db
from hub.organisations import service as organisations
from tests.fixtures.oauth import RegisteredClient
from tests.fixtures.people import Browser
from tests.fixtures.secrets import register_secret
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import parsed


def _admin(hub: PagesHub) -> Browser:
    return hub.browser("DTV", Role.ADMIN)


def _events(hub: PagesHub, action: str, resource_id: str | None = None) -> list[AuditEvent]:
    statement = select(AuditEvent).where(col(AuditEvent.action) == action)
    if resource_id is not None:
        statement = statement.where(col(AuditEvent.resource_id) == resource_id)
    with Session(hub.api.hub.services.engine) as session:
        return list(session.exec(statement.order_by(col(AuditEvent.seq))).all())


def _client(hub: PagesHub, client_id: str) -> OAuthClient | None:
    with Session(hub.api.hub.services.engine) as session:
        return session.get(OAuthClient, client_id)


def _set_enabled(hub: PagesHub, code: str, *, enabled: bool) -> None:
    with db.transaction(hub.api.hub.services.engine) as session:
        organisation = organisations.get_or_raise(session, code)
        organisations.set_enabled(session, organisation, enabled=enabled, now=datetime.now(UTC))
    hub.api.hub.services.organisations.invalidate()


def _register(hub: PagesHub, **fields: object) -> httpx.Response:
    admin = _admin(hub)
    form = {
        "csrf_token": admin.csrf_token,
        "organisation": "IOM",
        "name": "IOM zaaksysteem",
        "scopes": ["documents:read", "documents:write"],
        "processing_activity": "terugkeer",
        "key": "generate",
        "jwks": "",
        **fields,
    }
    return admin.post("/admin/clients/new", data=form)


def _row(text: str, client_id: str) -> str:
    found = re.search(
        rf"<tr[^>]*>\s*<td[^>]*><code>{re.escape(client_id)}</code>.*?</tr>", text, re.S
    )
    assert found is not None, f"no row of {client_id}"
    return found.group(0)


def test_a_generated_key_is_shown_once_and_gets_the_client_a_token(
    admin_pages_hub: PagesHub,
) -> None:
    hub = admin_pages_hub
    form = _admin(hub).get("/admin/clients/new")
    assert form.status_code == 200, form.text
    page = parsed(form)
    assert page.fields["hub-client"][0] == "csrf_token"
    assert {"organisation", "name", "scopes", "processing_activity", "key", "jwks"} <= set(
        page.fields["hub-client"]
    )
    assert "terugkeer" in page.options["hub-client/processing_activity"]
    added = _register(hub)
    assert added.status_code == 201, added.text
    text = added.text
    client_id = re.search(r"<dd><code>(iom-[0-9a-f]{8})</code></dd>", text)
    assert client_id is not None
    key_text = re.search(r'<pre class="hub-key" id="private-key"[^>]*>(.*?)</pre>', text, re.S)
    assert key_text is not None
    private_jwk = json.loads(html.unescape(key_text.group(1)))
    register_secret(private_jwk["d"], "client private JWK")
    assert "eenmalig" in text or "once" in text
    # The key works: the partner gets a token with it.
    registered = RegisteredClient(
        client_id.group(1), None, private_jwk, "IOM", "documents:read documents:write"
    )
    token = hub.api.hub.token_response(registered)
    assert token.status_code == 200, token.text
    # Kept nowhere but in the page: the hub holds the public half only.
    stored = _client(hub, client_id.group(1))
    assert stored is not None
    assert stored.jwks is not None
    assert private_jwk["d"] not in stored.jwks
    assert '"d"' not in stored.jwks
    recorded = _events(hub, "client.add", client_id.group(1))
    assert [(e.outcome, e.actor_type, e.actor_id) for e in recorded] == [
        ("success", "user", "dtv.admin")
    ]
    # The list shows it, enabled, and its last use: the token just issued.
    listing = _admin(hub).get("/admin/clients")
    assert listing.status_code == 200, listing.text
    row = _row(listing.text, client_id.group(1))
    assert "private_key_jwt" in row
    assert "ingeschakeld" in row
    assert "nooit" not in row  # it was used a moment ago
    assert re.search(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}", row)


def test_a_client_never_used_says_so(admin_pages_hub: PagesHub) -> None:
    added = _register(admin_pages_hub, name="Nooit gebruikt")
    assert added.status_code == 201
    client_id = re.search(r"<dd><code>(iom-[0-9a-f]{8})</code></dd>", added.text)
    assert client_id is not None
    listing = _admin(admin_pages_hub).get("/admin/clients")
    assert "nooit" in _row(listing.text, client_id.group(1))


def test_the_separation_of_duties_is_refused_on_the_form(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    before = len(_events(hub, "client.add"))
    refused = _register(hub, name="Te veel", scopes=["audit:read", "documents:read"])
    assert refused.status_code == 422, refused.text
    text = refused.text
    assert "scheiding van functies" in text
    # The form again, as it was filled in.
    assert 'value="Te veel"' in text
    assert re.search(r'value="audit:read" checked', text)
    with Session(hub.api.hub.services.engine) as session:
        names = session.exec(select(OAuthClient.name)).all()
    assert "Te veel" not in names
    after = _events(hub, "client.add")
    assert len(after) == before + 1
    assert (after[-1].outcome, after[-1].actor_id) == ("invalid", "dtv.admin")


def test_a_pasted_jwks_is_checked_as_the_cli_checks_it(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    private = ECKey.generate_key("P-256", {"kid": "partner-1"}, private=True)
    register_secret(str(private.as_dict(private=True)["d"]), "client private JWK")
    with_private = json.dumps({"keys": [private.as_dict(private=True)]})
    refused = _register(hub, key="jwks", jwks=with_private, name="Met privésleutel")
    assert refused.status_code == 422
    assert "privésleutel" in refused.text
    not_json = _register(hub, key="jwks", jwks="{keys", name="Geen JSON")
    assert not_json.status_code == 422
    assert "JWK Set is niet geldig" in not_json.text
    public = json.dumps({"keys": [private.as_dict(private=False)]})
    added = _register(hub, key="jwks", jwks=public, name="Eigen sleutel")
    assert added.status_code == 201, added.text
    assert "private-key" not in added.text


def test_a_jwks_uri_is_registered_from_the_form(admin_pages_hub: PagesHub) -> None:
    """The third choice: the partner's own key-set URL, checked as the CLI checks it."""
    hub = admin_pages_hub
    assert "jwks_uri" in parsed(_admin(hub).get("/admin/clients/new")).fields["hub-client"]
    refused = _register(hub, key="jwks_uri", jwks_uri="ftp://iom.example/jwks.json")
    assert refused.status_code == 422
    assert "moet met https:// beginnen" in refused.text
    assert _events(hub, "client.add")[-1].outcome == "invalid"
    uri = "https://iom.example/.well-known/jwks.json"
    added = _register(hub, key="jwks_uri", jwks_uri=f" {uri} ", name="Eigen sleutelserver")
    assert added.status_code == 201, added.text
    assert "private-key" not in added.text
    client_id = re.search(r"<dd><code>(iom-[0-9a-f]{8})</code></dd>", added.text)
    assert client_id is not None
    stored = _client(hub, client_id.group(1))
    assert stored is not None
    assert stored.jwks_uri == uri
    assert stored.jwks is None
    assert "private_key_jwt" in _row(_admin(hub).get("/admin/clients").text, client_id.group(1))


def test_disable_and_enable_a_client(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    admin = _admin(hub)
    partner = hub.api.hub.register(organisation="IND", scopes="documents:read")
    assert hub.api.hub.token_response(partner).status_code == 200
    listing = admin.get("/admin/clients")
    assert "binnen 2 seconden" in listing.text  # the bound of a disabled client's tokens
    disabled = admin.post(
        f"/admin/clients/{partner.client_id}/disable", data={"csrf_token": admin.csrf_token}
    )
    assert disabled.status_code == 303, disabled.text
    assert disabled.headers["location"] == "/admin/clients"
    assert "uitgeschakeld" in _row(admin.get("/admin/clients").text, partner.client_id)
    assert hub.api.hub.token_response(partner).status_code in (400, 401)
    enabled = admin.post(
        f"/admin/clients/{partner.client_id}/enable", data={"csrf_token": admin.csrf_token}
    )
    assert enabled.status_code == 303
    assert hub.api.hub.token_response(partner).status_code == 200
    recorded = [
        (e.action, e.actor_id)
        for e in _events(hub, "client.disable", partner.client_id)
        + _events(hub, "client.enable", partner.client_id)
    ]
    assert recorded == [("client.disable", "dtv.admin"), ("client.enable", "dtv.admin")]


def test_enabling_a_client_of_a_disabled_organisation_is_refused(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    admin = _admin(hub)
    partner = hub.api.hub.register(organisation="GM0344", scopes="documents:read")
    _set_enabled(hub, "GM0344", enabled=False)
    try:
        admin.post(
            f"/admin/clients/{partner.client_id}/disable", data={"csrf_token": admin.csrf_token}
        )
        refused = admin.post(
            f"/admin/clients/{partner.client_id}/enable", data={"csrf_token": admin.csrf_token}
        )
        assert refused.status_code == 422, refused.text
        assert "organisatie" in refused.text
        assert 'role="alert"' in refused.text
        stored = _client(hub, partner.client_id)
        assert stored is not None
        assert not stored.enabled
    finally:
        _set_enabled(hub, "GM0344", enabled=True)


def test_unknown_client_is_404(admin_pages_hub: PagesHub) -> None:
    admin = _admin(admin_pages_hub)
    missing = admin.post(
        "/admin/clients/nobody-here/disable", data={"csrf_token": admin.csrf_token}
    )
    assert missing.status_code == 404


def test_only_an_administrator_gets_in(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    for roles in ((Role.CASEWORKER,), (Role.AUDITOR,)):
        other = hub.browser("DTV", *roles)
        assert other.get("/admin/clients").status_code == 403
        assert other.get("/admin/clients/new").status_code == 403
    caseworker = hub.browser("DTV", Role.CASEWORKER)
    before = len(_events(hub, "client.add"))
    refused = caseworker.post(
        "/admin/clients/new",
        data={
            "csrf_token": caseworker.csrf_token,
            "organisation": "DTV",
            "name": "x",
            "scopes": "admin",
            "processing_activity": "terugkeer",
            "key": "generate",
        },
    )
    assert refused.status_code == 403
    recorded = _events(hub, "client.add")[before:]
    assert [(e.outcome, e.actor_id) for e in recorded] == [("denied", "dtv.caseworker")]


def test_a_form_without_its_csrf_token_is_refused(admin_pages_hub: PagesHub) -> None:
    partner = admin_pages_hub.api.hub.register(organisation="IOM", scopes="documents:read")
    refused = _admin(admin_pages_hub).post(f"/admin/clients/{partner.client_id}/disable", data={})
    assert refused.status_code == 403
    stored = _client(admin_pages_hub, partner.client_id)
    assert stored is not None
    assert stored.enabled


def test_the_client_people_log_in_through_is_not_disabled_from_a_page(
    admin_pages_hub: PagesHub,
) -> None:
    admin = _admin(admin_pages_hub)
    listing = admin.get("/admin/clients")
    assert "/admin/clients/ketenhub-web/disable" not in listing.text
    refused = admin.post(
        "/admin/clients/ketenhub-web/disable", data={"csrf_token": admin.csrf_token}
    )
    assert refused.status_code == 422, refused.text
    assert "ieders login" in refused.text
    web = _client(admin_pages_hub, "ketenhub-web")
    assert web is not None
    assert web.enabled
    assert admin.get("/admin/clients").status_code == 200  # still logged in
    event = _events(admin_pages_hub, "client.disable", "ketenhub-web")[-1]
    assert (event.outcome, event.actor_id) == ("invalid", "dtv.admin")
