"""The auditor's event pages over HTTP with a logged-in auditor, on both backend pairs: the
filters answer what the audit API answers for the same names, newest first by default and paged;
bad input is the form again (422); one event shows its proof verified by the server; the
export is exactly the selection; the metadata pages show no content and no v-number; and a
caseworker or an administrator gets the 403 page, recorded."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlmodel import Session, col, select

from audit.checkpoints import open_any
from audit.models import AuditEvent
from audit.notes import NoteSigner
from auth.people import Role
from hub.auditing.schemas import InclusionOut
from hub.pages.choices import ZONE
from hub.pages.console import events, proofs
from hub.pages.console.proofs import check_inclusion
from tests.fixtures.documents import DocumentHub, pdf
from tests.fixtures.people import Browser
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import parsed

V_NUMBER = "5930417268"
AUDITOR = "dtv.auditor"


@dataclass
class Setting:
    hub: PagesHub
    auditor: Browser
    document_id: str
    share_id: str

    @property
    def api(self) -> DocumentHub:
        return self.hub.api

    def api_events(self, **params: str) -> list[dict[str, Any]]:
        """Every matching event through the audit API, in log order."""
        headers = self.api.auth("DTV", "audit:read")
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": "500", **({"cursor": cursor} if cursor else {})}
            answer = self.api.client.get("/api/v1/audit/events", params=query, headers=headers)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            items += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                return items


@pytest.fixture(scope="module")
def setting(module_documents_hub: DocumentHub) -> Setting:
    """GM0363 shares a case document with IOM for terugkeer; IOM downloads it."""
    hub = PagesHub(module_documents_hub)
    api = hub.api
    document = api.uploaded("GM0363", pdf(seed=31), document_type="case_info", v_number=V_NUMBER)
    shared = api.share("GM0363", grantee="IOM", document_id=document["id"])
    assert shared.status_code == 201, shared.text
    assert api.content("IOM", document["id"]).status_code == 200
    auditor = hub.browser("DTV", Role.AUDITOR)
    return Setting(hub, auditor, document["id"], shared.json()["id"])


def _seqs(answer: Any) -> list[int]:
    """The events the page lists, in its order."""
    assert answer.status_code == 200, answer.text
    return [int(link.rsplit("/", 1)[1]) for link in parsed(answer).links("/audit/events/")]


def _next(answer: Any) -> str | None:
    found = [a["href"] for t, a in parsed(answer).elements if t == "a" and a.get("rel") == "next"]
    return found[0] if found else None


def test_downloads_of_an_organisation_newest_first_as_the_api_has_them(setting: Setting) -> None:
    page = setting.auditor.get("/audit/events?action=document.download&organisation=IOM")
    seqs = _seqs(page)
    api = setting.api_events(action="document.download", organisation="IOM")
    assert seqs == [e["seq"] for e in reversed(api)]
    assert len(seqs) >= 1
    assert "Document gedownload" in page.text
    assert "document.download" in page.text
    assert f'href="/audit/documents/{setting.document_id}"' in page.text
    assert "terugkeer" in page.text  # the purpose by its code, not the URI
    assert V_NUMBER not in page.text
    # The same selection, oldest first.
    ascending = _seqs(
        setting.auditor.get("/audit/events?action=document.download&organisation=IOM&order=asc")
    )
    assert ascending == sorted(seqs)


def test_purpose_rule_client_and_actor_filters(setting: Setting) -> None:
    [download] = [
        e
        for e in setting.api_events(action="document.download", organisation="IOM")
        if e["leaf"].get("resource_id") == setting.document_id
    ]
    rule = download["leaf"]["policy_rule"]
    auditor = setting.auditor
    base = "/audit/events?action=document.download"
    assert download["seq"] in _seqs(auditor.get(f"{base}&purpose=terugkeer"))
    assert download["seq"] not in _seqs(auditor.get(f"{base}&purpose=opvang"))
    by_rule = _seqs(auditor.get(f"{base}&policy_rule={rule}"))
    assert download["seq"] in by_rule
    assert by_rule == [
        e["seq"] for e in reversed(setting.api_events(policy_rule=rule, action="document.download"))
    ]
    # The auditor's own reads, through the web client.
    own = _seqs(
        auditor.get(f"/audit/events?actor={AUDITOR}&client=ketenhub-web&action=audit.query")
    )
    api_own = setting.api_events(actor=AUDITOR, client="ketenhub-web", action="audit.query")
    assert own
    # The API's answer, less the reads made since the page's (its own among them).
    assert own == [e["seq"] for e in reversed(api_own) if e["seq"] <= own[0]][: len(own)]
    assert all(e["leaf"]["actor_id"] == AUDITOR for e in api_own)


def test_pages_follow_on_without_overlap_and_the_read_is_recorded(
    setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "PAGE_SIZE", 5)
    first = setting.auditor.get("/audit/events")
    seqs = _seqs(first)
    assert len(seqs) == 5
    assert seqs == sorted(seqs, reverse=True)
    following = _next(first)
    assert following is not None
    assert dict(parse_qsl(urlsplit(following).query))["order"] == "desc"
    second = _seqs(setting.auditor.get(following))
    assert second
    assert max(second) < min(seqs)
    oldest = _seqs(setting.auditor.get("/audit/events?order=asc"))
    assert oldest[:3] == [0, 1, 2]
    with Session(setting.api.hub.services.engine) as session:
        recorded = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.actor_id) == AUDITOR, col(AuditEvent.action) == "audit.query")
            .order_by(col(AuditEvent.seq).desc())
        ).first()
    assert recorded is not None
    assert recorded.resource_type == "audit_log"
    assert recorded.actor_client == "ketenhub-web"


def test_a_day_is_the_whole_day_in_the_netherlands(setting: Setting) -> None:
    today = datetime.now(ZONE).date()
    base = "/audit/events?action=document.download&organisation=IOM"
    assert _seqs(setting.auditor.get(f"{base}&since={today}&until={today}"))
    yesterday = today - timedelta(days=1)
    none = setting.auditor.get(f"{base}&until={yesterday}")
    assert _seqs(none) == []
    assert "Geen gebeurtenissen" in none.text
    # An RFC 3339 moment is taken as well.
    later = (datetime.now(ZONE) + timedelta(hours=1)).isoformat(timespec="seconds")
    assert _seqs(setting.auditor.get(f"{base}&since={later.replace('+', '%2B')}")) == []


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=06-12-2026", "since", "Geef een dag"),
        ("since=2026-12-07&until=2026-12-06", "until", "De eerste dag mag niet later"),
        ("since=2026-02-30", "since", "Geef een dag"),
        ("purpose=onbekend", "purpose", "Kies een van de aangeboden waarden"),
        ("action=document.eat", "action", "Kies een van de aangeboden waarden"),
        ("outcome=maybe", "outcome", "Kies een van de aangeboden waarden"),
        ("organisation=gm0363", "organisation", "hoofdletters en cijfers"),
        ("actor=" + "x" * 600, "actor", "langer dan"),
    ],
    ids=[
        "not-a-day",
        "since-after-until",
        "no-such-date",
        "unknown-purpose",
        "unknown-action",
        "unknown-outcome",
        "lower-case-organisation",
        "too-long",
    ],
)
def test_bad_filter_input_is_the_form_again(
    setting: Setting, query: str, field: str, message: str
) -> None:
    for path in ("/audit/events", "/audit/export"):
        answer = setting.auditor.get(f"{path}?{query}")
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert f'id="field-{field}-error"' in answer.text
        assert message in answer.text
        assert "hub-events" in parsed(answer).fields
        # The summary at the top names the field, as it is read apart from the form.
        summary = answer.text.split('role="alert"', 1)[1].split("</ul>", 1)[0]
        assert re.search(rf"<li[^>]*>[^<:]+: [^<]*{message}", summary), summary


def _download_seq(setting: Setting) -> int:
    [download] = [
        e["seq"]
        for e in setting.api_events(action="document.download", organisation="IOM")
        if e["leaf"].get("resource_id") == setting.document_id
    ]
    return int(download)


def test_an_event_shows_every_field_and_its_proof_verified(setting: Setting) -> None:
    seq = _download_seq(setting)
    page = setting.auditor.get(f"/audit/events/{seq}")
    assert page.status_code == 200, page.text
    assert "Geverifieerd" in page.text
    assert "Niet geverifieerd" not in page.text
    api = setting.api.client.get(
        f"/api/v1/audit/events/{seq}", headers=setting.api.auth("DTV", "audit:read")
    ).json()
    assert api["event"]["leaf_hash"] in page.text
    for name, value in api["event"]["leaf"].items():
        assert f'<code class="utrecht-code">{name}</code>' in page.text
        assert str(value) in page.text
    note = re.search(r'<pre class="hub-receipt" id="hub-note">(.*?)</pre>', page.text, re.S)
    assert note is not None
    signed = open_any(note.group(1).replace("&#43;", "+"), setting.api.hub.services.audit.verifiers)
    assert signed.tree_size > seq
    links = parsed(page).links("/audit/events/")
    assert f"/audit/events/{seq - 1}" in links
    assert f"/audit/events/{seq + 1}" in links
    assert setting.auditor.get("/audit/events/99999999").status_code == 404


def test_the_proof_check_names_what_does_not_hold(setting: Setting) -> None:
    seq = _download_seq(setting)
    body = setting.api.client.get(
        f"/api/v1/audit/events/{seq}", headers=setting.api.auth("DTV", "audit:read")
    ).json()
    answer = InclusionOut.model_validate(body)
    verifiers = setting.api.hub.services.audit.verifiers
    assert check_inclusion(answer, verifiers).verified
    edited = answer.model_copy(deep=True)
    edited.event.leaf["outcome"] = "denied"
    assert check_inclusion(edited, verifiers).failed == proofs.LEAF
    other_key = (NoteSigner.generate(verifiers[0].name).verifier(),)
    assert check_inclusion(answer, other_key).failed == proofs.SIGNATURE
    wrong_path = answer.model_copy(update={"hashes": [answer.event.leaf_hash, *answer.hashes]})
    assert check_inclusion(wrong_path, verifiers).failed == proofs.INCLUSION
    wrong_place = answer.model_copy(update={"leaf_index": answer.leaf_index ^ 1})
    assert check_inclusion(wrong_place, verifiers).failed == proofs.INCLUSION


def test_the_export_is_exactly_the_selection(setting: Setting) -> None:
    selection = "action=document.download&organisation=IOM"
    page = setting.auditor.get(f"/audit/events?{selection}")
    seqs = _seqs(page)  # newest first, as the page lists them
    exports = parsed(page).links("/audit/export?")
    assert len(exports) == 3
    excel = [e for e in exports if "separator=semicolon" in e and "bom=true" in e]
    assert len(excel) == 1
    answer = setting.auditor.get(excel[0])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert [int(r["seq"]) for r in rows] == seqs
    comma = setting.auditor.get(f"/audit/export?{selection}&format=csv")
    assert not comma.content.startswith(b"\xef\xbb\xbf")
    assert [int(r["seq"]) for r in csv.DictReader(io.StringIO(comma.text))] == seqs
    lines = setting.auditor.get(f"/audit/export?{selection}&format=jsonl").text.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == seqs
    oldest = setting.auditor.get(f"/audit/export?{selection}&format=jsonl&order=asc").text
    assert [json.loads(line)["seq"] for line in oldest.splitlines()] == sorted(seqs)
    exported = setting.api_events(action="audit.export", actor=AUDITOR)
    assert len(exported) >= 3


def test_an_auditor_reads_the_metadata_the_trail_names(setting: Setting) -> None:
    document = setting.auditor.get(f"/audit/documents/{setting.document_id}")
    assert document.status_code == 200, document.text
    assert setting.document_id in document.text
    assert V_NUMBER not in document.text
    assert f"/audit/events?document_id={setting.document_id}" in parsed(document).addresses()
    assert "/content" not in document.text
    share = setting.auditor.get(f"/audit/shares/{setting.share_id}")
    assert share.status_code == 200, share.text
    assert "IOM" in share.text
    assert "De deling" in share.text
    assert "actief" in share.text  # the state, in Dutch
    assert f"/audit/documents/{setting.document_id}" in parsed(share).links("/audit/documents/")
    assert V_NUMBER not in share.text
    # The share's own events: its creation among them, exactly as the API's share_id filter.
    about_share = f"/audit/events?share_id={setting.share_id}"
    assert about_share in parsed(share).addresses()
    api_share = setting.api_events(share_id=setting.share_id)
    assert "share.create" in {e["leaf"]["action"] for e in api_share}
    assert all(e["leaf"]["resource_id"] == setting.share_id for e in api_share)
    assert _seqs(setting.auditor.get(about_share))[-len(api_share) :] == [
        e["seq"] for e in reversed(api_share)
    ]
    missing = "00000000-0000-4000-8000-000000000000"
    assert setting.auditor.get(f"/audit/documents/{missing}").status_code == 404
    assert setting.auditor.get(f"/audit/shares/{missing}").status_code == 404
    reads = setting.api_events(actor=AUDITOR, action="audit.query")
    about = {(e["leaf"].get("resource_type"), e["leaf"].get("resource_id")) for e in reads}
    assert ("document", setting.document_id) in about
    assert ("share", setting.share_id) in about


def test_the_home_page_of_an_auditor_and_of_an_administrator(setting: Setting) -> None:
    home = setting.auditor.get("/")
    assert home.status_code == 200
    links = parsed(home).links("/audit")
    assert {"/audit", "/audit/events", "/audit/integrity"} <= set(links)
    assert not parsed(home).links("/admin")
    assert re.search(r"Het laatste checkpoint omvat \d+ gebeurtenissen", home.text)
    admin = setting.hub.browser("DTV", Role.ADMIN).get("/")
    assert {"/admin", "/admin/users"} <= set(parsed(admin).links("/admin"))
    assert not parsed(admin).links("/audit")
    assert "checkpoint" not in admin.text


CONSOLE_PAGES = (
    ("/audit/events", "audit.query"),
    ("/audit/events/0", "audit.query"),
    ("/audit/export?format=csv", "audit.export"),
    ("/audit/documents/{document}", "audit.query"),
    ("/audit/shares/{share}", "audit.query"),
)


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ADMIN], ids=["caseworker", "admin"])
def test_a_caseworker_or_administrator_is_refused_every_console_page(
    setting: Setting, role: Role
) -> None:
    person = setting.hub.browser("GM0363" if role is Role.CASEWORKER else "DTV", role)
    username = person.person.username
    for template, action in CONSOLE_PAGES:
        path = template.format(document=setting.document_id, share=setting.share_id)
        answer = person.get(path)
        assert answer.status_code == 403, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
        with Session(setting.api.hub.services.engine) as session:
            last = session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.actor_id) == username)
                .order_by(col(AuditEvent.seq).desc())
            ).first()
        assert last is not None
        assert (last.action, last.outcome, last.detail) == (action, "denied", "insufficient_scope")
