"""The administration's organisation and people pages over HTTP with a logged-in administrator,
on both backend pairs: the issue's story (gemeente GM0599 and a person for it, who enrols through
the one-time link, logs in and sees nothing until a share exists), each refusal on its form with
its status, and nobody administering their own account."""

from __future__ import annotations

import html
import re

import pyotp
import pytest
from sqlmodel import Session, col, select

from audit.events import Action, Outcome
from audit.models import AuditEvent
from auth.models import UserAccount
from auth.people import Role
from hub.core import db
from hub.trail.context import Context
from tests.fixtures.documents import DocumentHub, pdf
from tests.fixtures.people import PASSWORD, Browser, log_in
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import parsed

V_NUMBER = "5928304716"


@pytest.fixture(scope="module")
def admin_hub(module_documents_hub: DocumentHub) -> PagesHub:
    return PagesHub(module_documents_hub)


@pytest.fixture(scope="module")
def admin(admin_hub: PagesHub) -> Browser:
    return admin_hub.browser("DTV", Role.ADMIN)


def _events(hub: PagesHub, action: Action) -> list[AuditEvent]:
    with Session(hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.action) == action.value)
        return list(session.exec(statement.order_by(col(AuditEvent.seq))).all())


def _account(hub: PagesHub, username: str) -> UserAccount:
    with Session(hub.api.hub.services.engine) as session:
        return session.exec(select(UserAccount).where(col(UserAccount.username) == username)).one()


def _link(text: str) -> str:
    found = re.search(r'<pre class="hub-receipt" id="hub-one-time-link">([^<]+)</pre>', text)
    assert found is not None, text
    return html.unescape(found.group(1))


def _enrol(hub: PagesHub, token: str, username: str) -> Browser:
    """What the person does with the link: a password, the second factor, a login."""
    services = hub.api.hub.services
    accounts, context = services.accounts, Context.new(source_address="127.0.0.1")
    with db.transaction(services.engine) as session:
        accounts.redeem_action_token(session, token=token, new_password=PASSWORD, context=context)
    with db.transaction(services.engine) as session:
        checked = accounts.check_password(
            session, username=username, password=PASSWORD, context=context
        )
    with db.transaction(services.engine) as session:
        enrolment = accounts.begin_enrolment(session, user_id=checked.person.user_id)
    with db.transaction(services.engine) as session:
        accounts.confirm_enrolment(
            session,
            user_id=checked.person.user_id,
            code=pyotp.TOTP(enrolment.secret_base32).now(),
            context=context,
        )
    return log_in(hub.api.client, services, checked.person)


def test_the_admin_adds_a_gemeente_and_a_person_who_sees_nothing_until_a_share(
    admin_hub: PagesHub, admin: Browser
) -> None:
    start = admin.get("/admin")
    assert start.status_code == 200, start.text
    assert {"/admin/organisations", "/admin/users"} <= set(parsed(start).links("/admin/"))

    form = admin.get("/admin/organisations")
    assert parsed(form).fields["hub-organisation"] == ["csrf_token", "code", "name", "kind"]
    assert parsed(form).fields["hub-organisation-import"] == ["csrf_token", "file"]
    added = admin.post(
        "/admin/organisations",
        data={
            "csrf_token": admin.csrf_token,
            "code": "GM0599",
            "name": "Gemeente Rotterdam",
            "kind": "gemeente",
        },
    )
    assert added.status_code == 303, added.text
    listing = admin.get("/admin/organisations")
    assert re.search(r"GM0599</td>\s*<td[^>]*>Gemeente Rotterdam<", listing.text)
    (event,) = [e for e in _events(admin_hub, Action.ORGANISATION_ADD) if e.resource_id == "GM0599"]
    assert (event.actor_id, event.actor_client, event.outcome) == (
        "dtv.admin",
        "ketenhub-web",
        Outcome.SUCCESS,
    )

    new = admin.get("/admin/users/new")
    assert "GM0599" in parsed(new).options["hub-user/organisation"]
    created = admin.post(
        "/admin/users/new",
        data={
            "csrf_token": admin.csrf_token,
            "username": "gm0599.medewerker",
            "organisation": "GM0599",
            "roles": "caseworker",
            "processing_activity": "opvang",
        },
    )
    assert created.status_code == 201, created.text
    link = _link(created.text)
    issuer = admin_hub.api.hub.services.settings.issuer.rstrip("/")
    assert link.startswith(f"{issuer}/account/activate/")
    assert "veilige weg" in created.text  # pass it on by a safe channel (Dutch by default)
    assert created.headers["cache-control"] == "no-store"
    (recorded,) = _events(admin_hub, Action.USER_ADD)[-1:]
    assert recorded.actor_id == "dtv.admin"
    assert link.rsplit("/", 1)[1] not in str(recorded.model_dump())
    users = admin.get("/admin/users", params={"organisation": "GM0599"})
    assert "gm0599.medewerker" in users.text
    assert "wacht op activering" in users.text

    person = _enrol(admin_hub, link.rsplit("/", 1)[1], "gm0599.medewerker")
    assert person.get("/").status_code == 200
    assert not re.findall(r'href="/documents/[0-9a-f-]{36}"', person.get("/documents").text)

    api = admin_hub.api
    case = api.uploaded("GM0363", pdf(seed=9), document_type="case_info", v_number=V_NUMBER)
    shared = api.share("GM0363", grantee="GM0599", document_id=case["id"], purpose="terugkeer")
    assert shared.status_code == 201, shared.text
    seen = re.findall(r'href="/documents/([0-9a-f-]{36})"', person.get("/documents").text)
    assert seen == [case["id"]]


@pytest.mark.parametrize(
    ("fields", "status", "said"),
    [
        ({"code": "DTV", "name": "Dubbel", "kind": "rijk"}, 409, "bestaat al"),
        ({"code": "gm12", "name": "Klein", "kind": "gemeente"}, 422, "hoofdletter"),
        ({"code": "GM0600", "name": "Rijk", "kind": "rijk"}, 422, "Alleen een gemeente"),
        ({"code": "TEST", "name": "Test", "kind": "planeet"}, 422, "soort"),
    ],
    ids=["duplicate", "bad-code", "cbs-code-not-gemeente", "unknown-kind"],
)
def test_a_refused_organisation_is_the_form_again_with_why(
    admin_hub: PagesHub, admin: Browser, fields: dict[str, str], status: int, said: str
) -> None:
    answer = admin.post("/admin/organisations", data={"csrf_token": admin.csrf_token, **fields})
    assert answer.status_code == status, answer.text
    assert "hub-organisation" in answer.text
    assert said in answer.text
    assert f'value="{html.escape(fields["name"])}"' in answer.text  # what was entered stays


def test_disable_and_enable_and_never_ones_own(admin_hub: PagesHub, admin: Browser) -> None:
    off = admin.post("/admin/organisations/NIDOS/disable", data={"csrf_token": admin.csrf_token})
    assert off.status_code == 303, off.text
    assert "/admin/organisations/NIDOS/enable" in admin.get("/admin/organisations").text
    on = admin.post("/admin/organisations/NIDOS/enable", data={"csrf_token": admin.csrf_token})
    assert on.status_code == 303, on.text
    own = admin.post("/admin/organisations/DTV/disable", data={"csrf_token": admin.csrf_token})
    assert own.status_code == 403, own.text
    assert "eigen organisatie" in own.text
    forged = admin.post("/admin/organisations/NIDOS/disable", data={"csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert "/admin/organisations/NIDOS/disable" in admin.get("/admin/organisations").text


def test_the_import_adds_and_names_what_existed_or_refuses_each_bad_line(
    admin_hub: PagesHub, admin: Browser
) -> None:
    bad = b"code;name;kind\nGM0610;Gemeente Een;gemeente\nGM61;Kapot;gemeente\n"
    refused = admin.post(
        "/admin/organisations/import",
        data={"csrf_token": admin.csrf_token},
        files={"file": ("gemeenten.csv", bad, "text/csv")},
    )
    assert refused.status_code == 422, refused.text
    assert "gemeenten.csv:3:" in refused.text
    assert "GM0610" not in admin.get("/admin/organisations").text  # nothing was imported
    good = (
        "\ufeffcode;name;kind\nGM0610;Gemeente Een;gemeente\nGM0363;Gemeente Amsterdam;gemeente\n"
    )
    imported = admin.post(
        "/admin/organisations/import",
        data={"csrf_token": admin.csrf_token},
        files={"file": ("gemeenten.csv", good.encode(), "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    assert re.search(r"Toegevoegd</h2>\s*<ul[^>]*>\s*<li[^>]*>GM0610", imported.text)
    assert re.search(r"Bestond al</h2>\s*<ul[^>]*>\s*<li[^>]*>GM0363", imported.text)
    (event,) = [e for e in _events(admin_hub, Action.ORGANISATION_ADD) if e.resource_id == "GM0610"]
    assert event.actor_id == "dtv.admin"


def test_person_actions_and_roles_are_recorded_and_never_on_ones_own(
    admin_hub: PagesHub, admin: Browser
) -> None:
    admin_hub.browser("COA")  # coa.caseworker
    page = admin.get("/admin/users/coa.caseworker")
    assert page.status_code == 200, page.text
    assert parsed(page).fields["hub-user-roles"] == ["csrf_token", "roles", "roles", "roles"]
    token = {"csrf_token": admin.csrf_token}
    clash = admin.post(
        "/admin/users/coa.caseworker/roles", data={**token, "roles": ["caseworker", "admin"]}
    )
    assert clash.status_code == 422, clash.text
    assert "scheiding van functies" in clash.text
    changed = admin.post("/admin/users/coa.caseworker/roles", data={**token, "roles": "auditor"})
    assert changed.status_code == 303, changed.text
    assert _account(admin_hub, "coa.caseworker").roles == "auditor"
    (event,) = _events(admin_hub, Action.USER_ROLE_CHANGE)[-1:]
    assert (event.actor_id, event.detail) == ("dtv.admin", "roles caseworker -> auditor")
    for action in ("disable", "enable", "reset-factor"):
        done = admin.post(f"/admin/users/coa.caseworker/{action}", data=token)
        assert done.status_code == 303, (action, done.text)
    assert _account(admin_hub, "coa.caseworker").totp_sealed is None
    reset = admin.post("/admin/users/coa.caseworker/reset-password", data=token)
    assert reset.status_code == 200
    assert "/account/reset/" in _link(reset.text)

    before = _account(admin_hub, "dtv.admin")
    own = admin.post("/admin/users/dtv.admin/roles", data={**token, "roles": "auditor"})
    assert own.status_code == 403, own.text
    assert "eigen account" in own.text
    assert admin.post("/admin/users/dtv.admin/disable", data=token).status_code == 403
    assert _account(admin_hub, "dtv.admin").roles == before.roles
    denied = [e for e in _events(admin_hub, Action.USER_ROLE_CHANGE) if e.outcome == "denied"]
    assert [(e.actor_id, e.detail) for e in denied] == [("dtv.admin", "own account")]
    assert admin.get("/admin").status_code == 200  # still an administrator


def test_the_pages_are_for_administrators_only(admin_hub: PagesHub) -> None:
    caseworker = admin_hub.browser("GM0344")
    for path in ("/admin", "/admin/organisations", "/admin/users", "/admin/users/new"):
        assert caseworker.get(path).status_code == 403, path
    refused = caseworker.post(
        "/admin/organisations",
        data={"csrf_token": caseworker.csrf_token, "code": "X1", "name": "X", "kind": "rijk"},
    )
    assert refused.status_code == 403
    (event,) = [
        e for e in _events(admin_hub, Action.ORGANISATION_ADD) if e.actor_id == "gm0344.caseworker"
    ]
    assert (event.outcome, event.detail) == (Outcome.DENIED, "insufficient_scope")
