"""The administration's shares overview over HTTP, on both backend pairs: every organisation's
active shares without a v-number, filtered by grantor, grantee and purpose, the read recorded as
``share.list``; an administrator's revoke ends the share for its grantee and is recorded as
such; nobody but an administrator gets in."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.people import Role
from hub.pages.admin import shares as admin_shares
from hub.tables.shares import Share
from tests.fixtures.documents import pdf
from tests.fixtures.people import Browser
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import no_number_in_addresses, parsed

V_NUMBER = "5128304967"


def _admin(hub: PagesHub) -> Browser:
    return hub.browser("DTV", Role.ADMIN)


def _events(hub: PagesHub, action: str) -> list[AuditEvent]:
    with Session(hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.action) == action)
        return list(session.exec(statement.order_by(col(AuditEvent.seq))).all())


def _case_share(hub: PagesHub, grantee: str = "IOM", purpose: str = "terugkeer") -> str:
    api = hub.api
    api.uploaded("GM0363", pdf(seed=7), document_type="case_info", v_number=V_NUMBER)
    shared = api.share(
        "GM0363",
        grantee=grantee,
        v_number=V_NUMBER,
        document_types=["case_info"],
        purpose=purpose,
    )
    assert shared.status_code == 201, shared.text
    share_id: str = shared.json()["id"]
    return share_id


def _revoke_buttons(text: str) -> list[str]:
    return re.findall(r'action="/admin/shares/([0-9a-f-]{36})/revoke"', text)


def test_every_active_share_without_the_person(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    share_id = _case_share(hub)
    before = len(_events(hub, "share.list"))
    overview = _admin(hub).get("/admin/shares")
    assert overview.status_code == 200, overview.text
    assert share_id in _revoke_buttons(overview.text)
    assert "Dossier: Zaakinformatie" in overview.text
    assert V_NUMBER not in overview.text  # an administrator reads no personal data
    no_number_in_addresses(overview, V_NUMBER)
    page = parsed(overview)
    assert page.fields["hub-share-filter"] == ["grantor", "grantee", "purpose"]
    recorded = _events(hub, "share.list")[before:]
    assert [(e.outcome, e.actor_type, e.actor_id) for e in recorded] == [
        ("success", "user", "dtv.admin")
    ]


def test_the_filters_narrow_the_overview(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    to_iom = _case_share(hub, grantee="IOM", purpose="terugkeer")
    to_dtv = _case_share(hub, grantee="DTV", purpose="opvang")
    admin = _admin(hub)
    by_grantee = _revoke_buttons(admin.get("/admin/shares?grantee=IOM").text)
    assert to_iom in by_grantee
    assert to_dtv not in by_grantee
    by_purpose = _revoke_buttons(admin.get("/admin/shares?purpose=opvang").text)
    assert to_dtv in by_purpose
    assert to_iom not in by_purpose
    by_grantor = _revoke_buttons(admin.get("/admin/shares?grantor=IND").text)
    assert to_iom not in by_grantor
    assert to_dtv not in by_grantor
    # A filter the page does not know filters nothing rather than failing.
    assert admin.get("/admin/shares?purpose=nonsense").status_code == 200


def test_an_administrators_revoke_ends_the_share(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    share_id = _case_share(hub)
    assert (
        hub.api.client.get(f"/api/v1/shares/{share_id}", headers=hub.api.auth("IOM")).json()[
            "state"
        ]
        == "active"
    )
    admin = _admin(hub)
    revoked = admin.post(
        f"/admin/shares/{share_id}/revoke",
        data={"csrf_token": admin.csrf_token, "back": "/admin/shares?grantee=IOM"},
    )
    assert revoked.status_code == 303, revoked.text
    assert revoked.headers["location"] == "/admin/shares?grantee=IOM"
    assert share_id not in _revoke_buttons(admin.get("/admin/shares").text)
    seen = hub.api.client.get(f"/api/v1/shares/{share_id}", headers=hub.api.auth("IOM")).json()
    assert seen["state"] == "revoked"
    with Session(hub.api.hub.services.engine) as session:
        share = session.get(Share, uuid.UUID(share_id))
    assert share is not None
    assert share.revoked_at is not None
    event = [e for e in _events(hub, "share.revoke") if e.resource_id == share_id][-1]
    assert (event.outcome, event.actor_type, event.actor_id) == ("success", "user", "dtv.admin")
    assert event.detail == "administrator's revoke: GM0363 to IOM"
    assert event.data_subject_id is not None  # the person's pseudonym, as any revoke records


def test_revoking_a_missing_share_is_404(admin_pages_hub: PagesHub) -> None:
    admin = _admin(admin_pages_hub)
    missing = admin.post(
        f"/admin/shares/{uuid.uuid4()}/revoke", data={"csrf_token": admin.csrf_token}
    )
    assert missing.status_code == 404


def test_only_an_administrator_sees_or_revokes(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    share_id = _case_share(hub)
    for roles in ((Role.CASEWORKER,), (Role.AUDITOR,)):
        assert hub.browser("GM0363", *roles).get("/admin/shares").status_code == 403
    grantor = hub.browser("GM0363", Role.CASEWORKER)
    refused = grantor.post(
        f"/admin/shares/{share_id}/revoke", data={"csrf_token": grantor.csrf_token}
    )
    assert refused.status_code == 403
    with Session(hub.api.hub.services.engine) as session:
        share = session.get(Share, uuid.UUID(share_id))
    assert share is not None
    assert share.revoked_at is None
    event = [e for e in _events(hub, "share.revoke") if e.resource_id == share_id][-1]
    assert (event.outcome, event.actor_id) == ("denied", "gm0363.caseworker")


def test_the_overview_pages_with_its_filters(
    admin_pages_hub: PagesHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = admin_pages_hub
    first = _case_share(hub, grantee="IOM", purpose="voogdij")
    second = _case_share(hub, grantee="IOM", purpose="voogdij")
    monkeypatch.setattr(admin_shares, "PAGE_SIZE", 1)
    admin = _admin(hub)
    page_one = admin.get("/admin/shares?purpose=voogdij")
    assert _revoke_buttons(page_one.text) == [second]  # newest first
    following = parsed(page_one).links("/admin/shares?")
    assert len(following) == 1
    assert "purpose=voogdij" in following[0]
    page_two = admin.get(html.unescape(following[0]))
    assert page_two.status_code == 200, page_two.text
    assert _revoke_buttons(page_two.text) == [first]
    # A cursor is for the filters it was made with.
    cursor = re.search(r"cursor=([^&\"]+)", following[0])
    assert cursor is not None
    assert admin.get(f"/admin/shares?purpose=terugkeer&cursor={cursor.group(1)}").status_code == 400
