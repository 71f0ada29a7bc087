"""The subject report page over HTTP with a logged-in auditor, on both backend pairs: the
download of a person's document is in the report (who, which document, why), as a page, a
PDF and a CSV for Dutch Excel; the v-number is never in an address, a file name or the trail;
each read is recorded; a wrong v-number is the form again; other roles get the 403 page."""

from __future__ import annotations

import csv
import io
import re

import pypdf
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.people import Role
from tests.fixtures.documents import pdf
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import no_number_in_addresses, parsed

PATH = "/audit/subject-report"


def _events(hub: PagesHub, action: str) -> list[AuditEvent]:
    with Session(hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.action) == action)
        return list(session.exec(statement.order_by(col(AuditEvent.seq))).all())


def _downloaded(hub: PagesHub, v_number: str, title: str) -> str:
    """IOM uploads a travel document of ``v_number``; DTV (which may read it) downloads it."""
    document = hub.api.uploaded("IOM", pdf(seed=int(v_number[-3:])), v_number=v_number, title=title)
    assert hub.api.content("DTV", document["id"]).status_code == 200
    return str(document["id"])


def _report(auditor_hub: PagesHub, v_number: str, **fields: str):  # type: ignore[no-untyped-def]
    auditor = auditor_hub.browser("DTV", Role.AUDITOR)
    data = {"csrf_token": auditor.csrf_token, "v_number": v_number, **fields}
    return auditor.post(PATH, data=data)


def test_the_form_posts_the_v_number_with_its_token_first(module_pages_hub: PagesHub) -> None:
    auditor = module_pages_hub.browser("DTV", Role.AUDITOR)
    form = auditor.get(PATH)
    assert form.status_code == 200, form.text
    page = parsed(form)
    assert page.fields["hub-subject-report"] == ["csrf_token", "v_number"]
    [element] = [a for t, a in page.elements if a.get("id") == "hub-subject-report"]
    assert (element["method"], element["action"]) == ("post", PATH)
    formats = [a["value"] for t, a in page.elements if t == "button" and a.get("name") == "format"]
    assert formats == ["html", "pdf", "csv"]
    assert re.search(r'<h1 class="utrecht-heading-1">Inzagerapport</h1>', form.text)


def test_the_report_lists_the_download_of_the_persons_document(
    module_pages_hub: PagesHub,
) -> None:
    hub, v_number = module_pages_hub, "5550001111"
    document_id = _downloaded(hub, v_number, "Paspoort van de betrokkene")
    answer = _report(hub, v_number)
    assert answer.status_code == 200, answer.text
    no_number_in_addresses(answer, v_number)
    rows = re.findall(r"<tr class=\"utrecht-table__row\">(.*?)</tr>", answer.text, re.S)
    [download] = [r for r in rows if "document.download" in r]
    assert "Document gedownload" in download
    assert "Gelukt" in download
    # Who (DTV's client), which document (type, title, a link to its metadata), why.
    assert "Reisdocument" in download
    assert "Paspoort van de betrokkene" in download
    assert f'href="/audit/documents/{document_id}"' in download
    assert "DTV" in download
    assert re.search(r'href="/audit/events/\d+"', download)
    [upload] = [r for r in rows if "document.upload" in r]
    assert "IOM" in upload
    # Recorded as the API records it: about the pseudonym, never the number.
    [recorded] = [e for e in _events(hub, "audit.subject_report") if e.actor_id == "dtv.auditor"][
        -1:
    ]
    assert recorded.outcome == "success"
    assert recorded.data_subject_id
    assert v_number not in str(recorded.model_dump())
    # The report itself is recorded about the person, so the next one lists it: about no
    # document, which the page says as a dash, never as a programmer's "None".
    again = _report(hub, v_number)
    rows = re.findall(r"<tr class=\"utrecht-table__row\">(.*?)</tr>", again.text, re.S)
    [earlier] = [r for r in rows if "audit.subject_report" in r]
    assert "dtv.auditor" in earlier
    assert "None" not in earlier
    assert "—" in earlier
    # Another person's report does not hold this download.
    other = _report(hub, "5550002222")
    assert other.status_code == 200
    assert document_id not in other.text
    assert "Er zijn geen gebeurtenissen over deze persoon vastgelegd." in other.text


def test_the_pdf_holds_the_v_number_and_the_event(module_pages_hub: PagesHub) -> None:
    hub, v_number = module_pages_hub, "5550003333"
    document_id = _downloaded(hub, v_number, "Beschikking kopie")
    answer = _report(hub, v_number, format="pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert v_number not in disposition
    assert v_number not in str(answer.url)
    assert answer.content.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(answer.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert v_number in text
    assert "Inzagerapport" in text
    assert "dtv.auditor" in text  # who made it
    assert "Document gedownload" in text  # the event, as people read it
    assert "Gelukt" in text
    assert "Beschikking kopie" in text
    assert document_id[:8] in text


def test_the_csv_opens_in_dutch_excel(module_pages_hub: PagesHub) -> None:
    hub, v_number = module_pages_hub, "5550004444"
    document_id = _downloaded(hub, v_number, '=HYPERLINK("x")')
    answer = _report(hub, v_number, format="csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert v_number not in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    assert rows, answer.text
    assert "Wanneer" in rows[0]
    [download] = [r for r in rows if r["Handelingscode"] == "document.download"]
    assert download["Document-id"] == document_id
    assert download["Documenttype"] == "Reisdocument"
    assert download["Titel"] == '\'=HYPERLINK("x")'  # a title is never a formula to Excel
    assert download["Organisatie"].endswith("(DTV)")
    assert download["Wat"] == "Document gedownload"
    assert download["Uitkomst"] == "Gelukt"
    assert download["Via client"] == download["Persoon of client"]  # a client acted itself


def test_the_report_is_paged_with_a_form_carrying_the_cursor(
    module_pages_hub: PagesHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, v_number = module_pages_hub, "5550005555"
    _downloaded(hub, v_number, "Eerste")
    monkeypatch.setattr("hub.pages.console.reporting.PAGE_SIZE", 1)
    first = _report(hub, v_number)
    assert first.status_code == 200
    assert "document.upload" in first.text
    assert "document.download" not in first.text
    page = parsed(first)
    assert page.fields["hub-report-next"] == ["csrf_token", "v_number", "cursor", "format"]
    cursor = re.search(r'name="cursor" value="([^"]+)"', first.text)
    assert cursor is not None
    second = _report(hub, v_number, cursor=cursor.group(1))
    assert second.status_code == 200
    assert "document.download" in second.text
    assert "document.upload" not in second.text
    no_number_in_addresses(second, v_number)


@pytest.mark.parametrize("v_number", ["12345", "12345678901", "abcdefghij", ""])
def test_a_wrong_v_number_is_the_form_again(module_pages_hub: PagesHub, v_number: str) -> None:
    before = len(_events(module_pages_hub, "audit.subject_report"))
    answer = _report(module_pages_hub, v_number)
    assert answer.status_code == 422
    assert "hub-subject-report" in answer.text
    assert "Een v-nummer bestaat uit precies 10 cijfers." in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert len(_events(module_pages_hub, "audit.subject_report")) == before


def test_an_unknown_format_is_the_form_again(module_pages_hub: PagesHub) -> None:
    answer = _report(module_pages_hub, "5550006666", format="xlsx")
    assert answer.status_code == 422
    assert "hub-subject-report" in answer.text


def test_a_report_without_the_token_is_refused(module_pages_hub: PagesHub) -> None:
    auditor = module_pages_hub.browser("DTV", Role.AUDITOR)
    assert auditor.post(PATH, data={"v_number": "5550007777"}).status_code == 403
    late = {"v_number": "5550007777", "csrf_token": auditor.csrf_token}
    assert auditor.post(PATH, data=late).status_code == 403  # the token not first


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ADMIN])
def test_other_roles_get_the_403_page_recorded(module_pages_hub: PagesHub, role: Role) -> None:
    person = module_pages_hub.browser("GM0363", role)
    form = person.get(PATH)
    assert form.status_code == 403
    assert form.headers["content-type"].startswith("text/html")
    posted = person.post(PATH, data={"csrf_token": person.csrf_token, "v_number": "5550008888"})
    assert posted.status_code == 403
    refused = [
        e
        for e in _events(module_pages_hub, "audit.subject_report")
        if e.actor_id == person.person.username
    ]
    assert [e.outcome for e in refused] == ["denied", "denied"]
