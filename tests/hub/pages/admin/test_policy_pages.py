"""The policy pages over HTTP, on both backend pairs: the policy in force rendered (purposes with
their addresses, types with who may do what), its hash and load time, the replicas with a
differing policy marked, and the explain tool, at /admin/policy for administrators and
/audit/policy for auditors; each question recorded as ``policy.explain``."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.people import Role
from hub.core import db
from hub.policy.replicas import ReplicaIdentity, beat
from tests.fixtures.documents import pdf
from tests.fixtures.people import Browser
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import parsed

PAGES = (("/admin/policy", Role.ADMIN), ("/audit/policy", Role.AUDITOR))


def _person(hub: PagesHub, role: Role) -> Browser:
    return hub.browser("DTV", role)


def _explains(hub: PagesHub) -> list[AuditEvent]:
    with Session(hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.action) == "policy.explain")
        return list(session.exec(statement.order_by(col(AuditEvent.seq))).all())


def test_the_policy_in_force_is_shown_to_both(admin_pages_hub: PagesHub) -> None:
    services = admin_pages_hub.api.hub.services
    policy = services.policy
    for path, role in PAGES:
        page = _person(admin_pages_hub, role).get(path)
        assert page.status_code == 200, page.text
        text = page.text
        assert policy.hash in text
        assert services.settings.purpose_uri("terugkeer") in text
        assert "terugkeer: vertrek voorbereiden en uitvoeren" in text
        assert "Reisdocument (<code>travel_document</code>)" in text
        assert "<dt>Mag lezen</dt><dd>DTV" in text  # who reads travel documents, as the file says
        assert "default-deny" in text
        form = parsed(page)
        assert form.fields["hub-explain"] == [
            "csrf_token",
            "organisation",
            "action",
            "document_type",
            "document_id",
        ]
        assert f'action="{path}/explain"' in text


def test_each_replica_with_its_policy_and_a_differing_one_marked(
    admin_pages_hub: PagesHub,
) -> None:
    services = admin_pages_hub.api.hub.services
    now = datetime.now(UTC)
    other = ReplicaIdentity(str(uuid.uuid4()), "oude-node", 4242, now - timedelta(hours=2))
    gone = ReplicaIdentity(str(uuid.uuid4()), "weg-node", 77, now - timedelta(hours=3))
    with db.transaction(services.engine) as session:
        beat(session, other, policy_hash="sha256:" + "0" * 64, policy_loaded_at=now, now=now)
        beat(
            session,
            gone,
            policy_hash=services.policy.hash,
            policy_loaded_at=now,
            now=now - timedelta(minutes=10),
        )
    text = _person(admin_pages_hub, Role.ADMIN).get("/admin/policy").text
    rows = re.findall(r"<tr class=\"utrecht-table__row\">(.*?)</tr>", text, re.S)
    by_host = {h: r for r in rows for h in ("oude-node", "weg-node") if f">{h}<" in r}
    assert "wijkt af van het beleid op deze pagina" in by_host["oude-node"]
    assert ">actief<" in by_host["oude-node"]
    assert ">verdwenen<" in by_host["weg-node"]
    assert "wijkt af" not in by_host["weg-node"]
    # This process itself, written when the hub started.
    own = [r for r in rows if services.policy.hash in r and ">actief<" in r]
    assert own


def test_explain_a_type_and_a_document(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    document = hub.api.uploaded("IOM", pdf(seed=11), document_type="travel_document")
    for path, role in PAGES:
        person = _person(hub, role)
        before = len(_explains(hub))
        allowed = person.post(
            f"{path}/explain",
            data={
                "csrf_token": person.csrf_token,
                "organisation": "DTV",
                "action": "read",
                "document_type": "travel_document",
                "document_id": "",
            },
        )
        assert allowed.status_code == 200, allowed.text
        assert "Toegestaan, door de regel travel_document.read[DTV]." in allowed.text
        denied = person.post(
            f"{path}/explain",
            data={
                "csrf_token": person.csrf_token,
                "organisation": "GM0363",
                "action": "read",
                "document_type": "",
                "document_id": document["id"],
            },
        )
        assert denied.status_code == 200, denied.text
        assert "Geweigerd, door de regel default-deny." in denied.text
        # The form keeps the question.
        assert f'value="{document["id"]}"' in denied.text
        recorded = _explains(hub)[before:]
        assert [(e.outcome, e.actor_id, e.policy_rule) for e in recorded] == [
            ("success", f"dtv.{role.value}", "travel_document.read[DTV]"),
            ("success", f"dtv.{role.value}", "default-deny"),
        ]


def test_a_question_the_policy_cannot_answer_is_said_on_the_form(
    admin_pages_hub: PagesHub,
) -> None:
    admin = _person(admin_pages_hub, Role.ADMIN)
    fields = {"csrf_token": admin.csrf_token, "organisation": "DTV", "action": "read"}
    missing = admin.post(
        "/admin/policy/explain",
        data={**fields, "document_type": "", "document_id": str(uuid.uuid4())},
    )
    assert missing.status_code == 404
    assert "Dat document bestaat niet." in missing.text
    malformed = admin.post(
        "/admin/policy/explain", data={**fields, "document_type": "", "document_id": "abc"}
    )
    assert malformed.status_code == 422
    assert "UUID" in malformed.text
    neither = admin.post(
        "/admin/policy/explain", data={**fields, "document_type": "", "document_id": ""}
    )
    assert neither.status_code == 422
    unknown = admin.post(
        "/admin/policy/explain",
        data={**fields, "organisation": "GM9999", "document_type": "decision", "document_id": ""},
    )
    assert unknown.status_code == 422
    assert 'role="alert"' in unknown.text


def test_each_page_for_its_own_role_only(admin_pages_hub: PagesHub) -> None:
    hub = admin_pages_hub
    assert _person(hub, Role.AUDITOR).get("/admin/policy").status_code == 403
    assert _person(hub, Role.ADMIN).get("/audit/policy").status_code == 403
    caseworker = _person(hub, Role.CASEWORKER)
    for path, _role in PAGES:
        assert caseworker.get(path).status_code == 403
        refused = caseworker.post(
            f"{path}/explain",
            data={
                "csrf_token": caseworker.csrf_token,
                "organisation": "GM0363",
                "action": "read",
                "document_type": "decision",
            },
        )
        assert refused.status_code == 403
