"""The documents pages over HTTP, as a logged-in person's browser uses them, on both backend
pairs: the list with its filters and pages, the search by v-number (a POST; the number in no
address), a document's page with where it came from, the same 404 for hidden and missing, the
download with its receipt, the upload form and its refusals, CSRF, and upload slots per person."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, func, select

from audit.models import AuditEvent
from auth.people import Role
from hub.pages import documents as document_pages
from hub.rules import demo_policy_bytes
from hub.tables.documents import Document
from hub.ui.i18n import LANGUAGE_COOKIE
from hub.ui.sessions import COOKIE
from hub.web.limits import UploadSlots
from tests.fixtures.documents import jpeg, pdf, running_documents_hub, tiff
from tests.fixtures.people import Browser
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import no_number_in_addresses, parsed

V_NUMBER = "4817305926"
OTHER_V_NUMBER = "5928304716"


def _documents(hub: PagesHub) -> int:
    with Session(hub.api.hub.services.engine) as session:
        return int(session.exec(select(func.count()).select_from(Document)).one())


def _ids(text: str) -> list[str]:
    return re.findall(r'href="/documents/([0-9a-f-]{36})"', text)


def _upload(
    browser: Browser,
    content: bytes,
    *,
    document_type: str = "case_info",
    v_number: str = V_NUMBER,
    title: str = "Intake",
    csrf_token: str | None = None,
    csrf_first: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    fields = {"document_type": document_type, "v_number": v_number, "title": title}
    token = {"csrf_token": browser.csrf_token if csrf_token is None else csrf_token}
    data = {**token, **fields} if csrf_first else {**fields, **token}
    return browser.post(
        "/documents/new",
        data=data,
        files={"file": ("intake.pdf", content, "application/pdf")},
        headers=headers or {},
    )


# -- the list, its filters and its pages --------------------------------------------------------


def test_the_list_shows_what_the_organisation_may_see_filtered_and_paged(
    pages_hub: PagesHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = pages_hub.api
    travel = [api.uploaded("IOM", pdf(seed=i), v_number=V_NUMBER)["id"] for i in range(3)]
    decision = api.uploaded("IND", pdf(seed=9), document_type="decision")["id"]
    hidden = api.uploaded("GM0344", pdf(seed=8), document_type="case_info")["id"]
    dtv = pages_hub.browser("DTV")

    everything = dtv.get("/documents")
    assert everything.status_code == 200, everything.text
    assert sorted(_ids(everything.text)) == sorted([*travel, decision, hidden])
    assert everything.headers["cache-control"] == "no-store"
    assert V_NUMBER in everything.text  # in the page, as the API shows it

    decisions = dtv.get("/documents", params={"document_type": "decision"})
    assert _ids(decisions.text) == [decision]
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert _ids(dtv.get("/documents", params={"created_since": tomorrow}).text) == []
    today = datetime.now(UTC).date().isoformat()
    assert len(_ids(dtv.get("/documents", params={"created_until": tomorrow}).text)) == 5
    backwards = dtv.get("/documents", params={"created_since": tomorrow, "created_until": today})
    assert backwards.status_code == 422
    assert backwards.headers["content-type"].startswith("text/html")
    unknown = dtv.get("/documents", params={"document_type": "passport"})
    assert unknown.status_code == 422

    # A gemeente sees only its own case information.
    assert _ids(pages_hub.browser("GM0363").get("/documents").text) == []

    monkeypatch.setattr(document_pages, "PAGE_SIZE", 2)
    seen: list[str] = []
    page = dtv.get("/documents", params={"document_type": "travel_document"})
    while True:
        assert page.status_code == 200, page.text
        seen += _ids(page.text)
        following = parsed(page).links("/documents?")
        nexts = [link for link in following if "cursor=" in link]
        if not nexts:
            break
        assert "document_type=travel_document" in nexts[0]
        page = dtv.get(nexts[0].replace("&amp;", "&"))
    assert sorted(seen) == sorted(travel)
    assert len(seen) == len(set(seen))


def test_the_search_finds_by_v_number_in_a_post_and_the_number_in_no_address(
    pages_hub: PagesHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = pages_hub.api
    wanted = [api.uploaded("IOM", pdf(seed=i), v_number=V_NUMBER)["id"] for i in range(3)]
    api.uploaded("IOM", pdf(seed=7), v_number=OTHER_V_NUMBER)
    dtv = pages_hub.browser("DTV")
    listing = dtv.get("/documents")
    assert parsed(listing).fields["hub-search"][0] == "csrf_token"
    no_number_in_addresses(listing, V_NUMBER)

    monkeypatch.setattr(document_pages, "PAGE_SIZE", 2)
    form = {"csrf_token": dtv.csrf_token, "v_number": V_NUMBER, "document_type": ""}
    found = dtv.post("/documents/search", data=form)
    assert found.status_code == 200, found.text
    assert "location" not in found.headers
    no_number_in_addresses(found, V_NUMBER)
    first = _ids(found.text)
    assert len(first) == 2
    # The next page is a POST again, its form carrying the number in its body only.
    cursor = re.search(r'name="cursor" value="([^"]+)"', found.text)
    assert cursor is not None
    following = dtv.post("/documents/search", data={**form, "cursor": cursor.group(1)})
    assert following.status_code == 200
    no_number_in_addresses(following, V_NUMBER)
    assert sorted(first + _ids(following.text)) == sorted(wanted)

    searches = _events(pages_hub, "document.search")
    assert len(searches) == 2
    assert all(V_NUMBER not in (e.detail or "") for e in searches)
    assert {e.actor_id for e in searches} == {dtv.person.username}

    wrong = dtv.post("/documents/search", data={**form, "v_number": "12345"})
    assert wrong.status_code == 422
    assert "10 digits" in wrong.text or "10 cijfers" in wrong.text


def _events(hub: PagesHub, action: str) -> list[AuditEvent]:
    with Session(hub.api.hub.services.engine) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.action) == action)
                .order_by(col(AuditEvent.seq))
            ).all()
        )


# -- one document --------------------------------------------------------------------------------


def test_a_shared_document_shows_from_whom_for_what_and_until_when(pages_hub: PagesHub) -> None:
    api = pages_hub.api
    document = api.uploaded("IOM", pdf(seed=1), v_number=V_NUMBER, title="Laissez-passer")
    shared = api.share("IOM", grantee="GM0363", document_id=document["id"], purpose="terugkeer")
    assert shared.status_code == 201, shared.text
    page = pages_hub.browser("GM0363").get(f"/documents/{document['id']}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Laissez-passer" in text
    assert document["sha256"] in text
    assert "Gedeeld met uw organisatie" in text or "Shared with your organisation" in text
    assert "(IOM)" in text
    assert "terugkeer" in text
    assert parsed(page).links(f"/documents/{document['id']}/content")
    [read] = [e for e in _events(pages_hub, "document.read") if e.resource_id == document["id"]]
    assert (read.organisation, read.outcome) == ("GM0363", "success")
    assert read.policy_rule == f"share[{shared.json()['id']}]"


def test_a_hidden_document_is_the_same_404_page_as_a_missing_one(pages_hub: PagesHub) -> None:
    document = pages_hub.api.uploaded("IOM", pdf(seed=2))
    gemeente = pages_hub.browser("GM0344")
    missing_id = str(uuid.uuid4())
    hidden = gemeente.get(f"/documents/{document['id']}")
    missing = gemeente.get(f"/documents/{missing_id}")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.headers["content-type"].startswith("text/html")
    # Alike but for the address asked for (the language switch returns to it).
    assert hidden.text.replace(document["id"], "ID") == missing.text.replace(missing_id, "ID")
    assert gemeente.get(f"/documents/{document['id']}/content").status_code == 404
    # The receipts are the person's own: none, for a hidden document as for a missing one.
    receipts = [gemeente.get(f"/documents/{i}/receipts") for i in (document["id"], missing_id)]
    assert [r.status_code for r in receipts] == [200, 200]
    assert receipts[0].text.replace(document["id"], "ID") == receipts[1].text.replace(
        missing_id, "ID"
    )
    not_an_id = gemeente.get("/documents/not-an-id")
    assert not_an_id.status_code == 404


def test_the_download_is_an_attachment_with_its_receipt_then_shown_on_the_page(
    pages_hub: PagesHub,
) -> None:
    content = pdf(20_000, seed=3)
    document = pages_hub.api.uploaded("IOM", content, filename="lp 1/2.pdf")
    dtv = pages_hub.browser("DTV")
    before = dtv.get(f"/documents/{document['id']}")
    assert "Downloaden" in before.text

    download = dtv.get(f"/documents/{document['id']}/content")
    assert download.status_code == 200, download.text
    assert download.content == content
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert "/" not in disposition.split("filename", 1)[1]
    seq, leaf = download.headers["audit-seq"], download.headers["audit-leaf-hash"]
    [event] = [e for e in _events(pages_hub, "document.download") if e.outcome == "success"]
    assert str(event.seq) == seq
    assert (event.actor_type, event.actor_id) == ("user", dtv.person.username)
    assert event.actor_client == "ketenhub-web"
    # The page's download goes through the API's service: the same content fields and receipt.
    assert (event.content_sha256, event.content_size) == (document["sha256"], len(content))
    note = base64.b64decode(download.headers["audit-receipt"]).decode("utf-8")
    assert f"\nseq {seq}\nleaf {leaf}\n" in note

    after = dtv.get(f"/documents/{document['id']}")
    assert f">{seq}<" in after.text
    assert leaf in after.text
    fragment = dtv.get(f"/documents/{document['id']}/receipts")
    assert fragment.status_code == 200
    assert leaf in fragment.text
    # The receipts are the person's own: another person of DTV has none.
    colleague = pages_hub.browser("DTV", Role.AUDITOR)
    assert colleague.get(f"/documents/{document['id']}/receipts").status_code == 403


def test_english_names_the_download_link(pages_hub: PagesHub) -> None:
    document = pages_hub.api.uploaded("IOM", pdf(seed=4))
    dtv = pages_hub.browser("DTV")
    cookies = f"{COOKIE}={dtv.cookie}; {LANGUAGE_COOKIE}=en"
    page = dtv.get(f"/documents/{document['id']}", headers={"Cookie": cookies})
    assert page.status_code == 200
    assert '<html lang="en"' in page.text
    assert ">Download</a>" in page.text


# -- the upload form -----------------------------------------------------------------------------


def test_the_upload_form_offers_only_allowed_types_and_says_why_not(pages_hub: PagesHub) -> None:
    gemeente = pages_hub.browser("GM0363")
    form = gemeente.get("/documents/new")
    assert form.status_code == 200, form.text
    page = parsed(form)
    assert page.fields["hub-upload"][:5] == [
        "csrf_token",
        "document_type",
        "v_number",
        "title",
        "file",
    ]
    assert [o for o in page.options["hub-upload/document_type"] if o] == ["case_info"]
    # The types it may not upload, by their Dutch names, with the rule that refused them.
    assert re.search(r"Reisdocument: geweigerd door de beleidsregel \S+", form.text)
    assert "travel_document" not in form.text
    # What each type it may upload takes, and how large.
    assert "Zaakinformatie: PDF, JPEG of PNG, ten hoogste 2,0 GB" in form.text

    # COA may upload case information only; an auditor nothing at all (no documents:write).
    auditor = pages_hub.browser("DTV", Role.AUDITOR)
    assert auditor.get("/documents/new").status_code == 403


def test_an_upload_shows_its_signed_receipt_and_downloads_as_uploaded(pages_hub: PagesHub) -> None:
    gemeente = pages_hub.browser("GM0363")
    content = pdf(50_000, seed=5)
    answer = _upload(gemeente, content)
    assert answer.status_code == 201, answer.text
    no_number_in_addresses(answer, V_NUMBER)
    [event] = [e for e in _events(pages_hub, "document.upload") if e.outcome == "success"]
    assert event.content_sha256 == hashlib.sha256(content).hexdigest()
    assert event.content_size == len(content)
    text = answer.text
    assert f">{event.seq}<" in text
    assert (event.actor_type, event.actor_id) == ("user", gemeente.person.username)
    assert 'class="utrecht-code-block hub-receipt"' in text
    [document_id] = _ids(text)
    download = gemeente.get(f"/documents/{document_id}/content")
    assert download.content == content


def test_upload_refusals_are_the_apis_shown_on_the_form(pages_hub: PagesHub) -> None:
    gemeente = pages_hub.browser("GM0363")
    before = _documents(pages_hub)
    not_allowed = _upload(gemeente, pdf(seed=6), document_type="travel_document")
    assert not_allowed.status_code == 403
    assert "hub-upload" in not_allowed.text
    wrong_content = _upload(gemeente, tiff())
    assert wrong_content.status_code == 415
    bad_number = _upload(gemeente, jpeg(), v_number="12")
    assert bad_number.status_code == 422
    for refused in (not_allowed, wrong_content, bad_number):
        assert refused.headers["content-type"].startswith("text/html")
        assert 'class="utrecht-alert' in refused.text
    # Said in Dutch on the Dutch page, about the type by its name: never the API's English.
    assert "Uw organisatie mag geen documenten van het type Reisdocument uploaden." in (
        not_allowed.text
    )
    assert "may not upload" not in not_allowed.text
    assert (
        "Voor Zaakinformatie kunt u alleen PDF, JPEG of PNG uploaden; dit bestand is van een "
        "andere soort." in wrong_content.text
    )
    assert "this document type takes" not in wrong_content.text
    assert "Een v-nummer bestaat uit precies 10 cijfers." in bad_number.text
    assert "v_number:" not in bad_number.text
    assert _documents(pages_hub) == before


@pytest.fixture
def small_pages_hub(tmp_path: Path) -> Iterator[PagesHub]:
    """A hub on SQLite whose policy takes case information up to 4 KiB."""
    policy = demo_policy_bytes().decode().replace("2 GiB", "4 KiB").replace('"demo-1"', '"s-1"')
    policy_file = tmp_path / "small.yaml"
    policy_file.write_text(policy)

    class _Param:
        param = "sqlite+filesystem"

    for api in running_documents_hub(
        _Param(),  # type: ignore[arg-type]
        tmp_path,
        policy_file=policy_file,
    ):
        yield PagesHub(api)


def test_an_upload_over_the_types_size_is_413_on_the_form(small_pages_hub: PagesHub) -> None:
    gemeente = small_pages_hub.browser("GM0363")
    at_limit = _upload(gemeente, pdf(4096, seed=1))
    assert at_limit.status_code == 201
    over = _upload(gemeente, pdf(4097, seed=2))
    assert over.status_code == 413
    # The page's own words, with the type's maximum as a person reads a size.
    assert "Het bestand is groter dan het maximum van 4,0 KB voor Zaakinformatie." in over.text
    assert "limit of" not in over.text
    assert _documents(small_pages_hub) == 1


# -- CSRF ----------------------------------------------------------------------------------------


def test_forms_without_this_sessions_token_are_refused(pages_hub: PagesHub) -> None:
    gemeente = pages_hub.browser("GM0363")
    before = _documents(pages_hub)
    refusals = [
        _upload(gemeente, pdf(seed=1), csrf_token=""),
        _upload(gemeente, pdf(seed=2), csrf_token="A" * 43),
        _upload(gemeente, pdf(seed=3), csrf_first=False),
        _upload(gemeente, pdf(seed=4), headers={"Origin": "https://evil.example"}),
        _upload(gemeente, pdf(seed=5), headers={"Sec-Fetch-Site": "cross-site"}),
        gemeente.post("/documents/search", data={"v_number": V_NUMBER}),
        gemeente.post("/documents/search", data={"csrf_token": "x", "v_number": V_NUMBER}),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("text/html")
    assert _documents(pages_hub) == before
    assert _events(pages_hub, "document.search") == []


# -- upload slots --------------------------------------------------------------------------------


def test_upload_slots_are_per_person_not_per_web_client(pages_hub: PagesHub) -> None:
    first = pages_hub.browser("GM0363")
    other = pages_hub.browser("GM0344")
    slots: UploadSlots = pages_hub.api.client.app.state.upload_slots  # type: ignore[attr-defined]
    with ExitStack() as held:
        for _ in range(slots.per_caller):  # every slot of the first person, as uploads would
            held.enter_context(slots.hold(f"user {first.person.user_id}"))
        busy = _upload(first, pdf(seed=1))
        assert busy.status_code == 429
        assert busy.headers["retry-after"]
        assert _upload(other, pdf(seed=2)).status_code == 201
    assert _upload(first, pdf(seed=3)).status_code == 201
