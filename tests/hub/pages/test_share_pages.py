"""The shares pages over HTTP with a logged-in person, on both backend pairs: the form offers
only what the policy allows (types, receivers, the last day within the maximum) and names the
rule for the rest, the maximum is enforced on submit, the list shows the share with a revoke
button, and revoking needs the session's CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from hub.pages.choices import latest_day
from hub.tables.shares import Share
from tests.fixtures.documents import pdf
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import no_number_in_addresses, parsed

V_NUMBER = "4817305926"


def _shares(hub: PagesHub) -> list[Share]:
    with Session(hub.api.hub.services.engine) as session:
        return list(session.exec(select(Share)).all())


def _last_day(text: str) -> str:
    found = re.search(r'id="field-until"[^>]* max="(\d{4}-\d{2}-\d{2})"', text)
    assert found is not None
    return found.group(1)


def test_the_case_form_offers_only_what_the_policy_allows(pages_hub: PagesHub) -> None:
    gemeente = pages_hub.browser("GM0363")
    form = gemeente.get("/shares/new")
    assert form.status_code == 200, form.text
    page = parsed(form)
    assert page.fields["hub-share"][0] == "csrf_token"
    offered = {a["value"] for t, a in page.elements if a.get("name") == "document_types"}
    assert offered == {"case_info"}  # a gemeente shares only its own case information
    # The rest named with the rule that refused it.
    assert re.search(r"Reisdocument: [^<]*default-deny", form.text)
    assert re.search(r"Beschikking: [^<]*default-deny", form.text)
    grantees = [o for o in page.options["hub-share/grantee"] if o]
    assert "GM0363" not in grantees
    assert {"DTV", "IOM", "GM0344"} <= set(grantees)
    now = datetime.now(UTC)
    assert _last_day(form.text) == latest_day(now, 90).isoformat()


def test_a_decision_is_offered_for_the_policys_30_days(pages_hub: PagesHub) -> None:
    decision = pages_hub.api.uploaded("IND", pdf(seed=1), document_type="decision")
    form = pages_hub.browser("IND").get(f"/shares/new?document={decision['id']}")
    assert form.status_code == 200, form.text
    assert _last_day(form.text) == latest_day(datetime.now(UTC), 30).isoformat()
    # A gemeente may not share it, and cannot see it: the same 404 as a missing document.
    assert (
        pages_hub.browser("GM0363").get(f"/shares/new?document={decision['id']}").status_code == 404
    )


def test_share_list_and_revoke_with_the_maximum_enforced(pages_hub: PagesHub) -> None:
    api = pages_hub.api
    own = api.uploaded("GM0363", pdf(seed=2), document_type="case_info", v_number=V_NUMBER)
    gemeente = pages_hub.browser("GM0363")
    today = datetime.now(UTC).date()
    form = {
        "csrf_token": gemeente.csrf_token,
        "document_id": own["id"],
        "grantee": "IOM",
        "purpose": "terugkeer",
    }
    too_long = gemeente.post(
        "/shares/new", data={**form, "until": (today + timedelta(days=95)).isoformat()}
    )
    assert too_long.status_code == 422, too_long.text
    assert "hub-share" in too_long.text  # the form again, with why, in Dutch
    last = latest_day(datetime.now(UTC), 90)
    assert re.search(
        rf"Deze deling mag ten hoogste 90 dagen duren: tot en met uiterlijk {last.day} \w+ "
        rf"{last.year}\.",
        too_long.text,
    ), too_long.text
    assert "may last at most" not in too_long.text
    assert _shares(pages_hub) == []

    case = gemeente.post(
        "/shares/new",
        data={
            "csrf_token": gemeente.csrf_token,
            "v_number": V_NUMBER,
            "document_types": "case_info",
            "grantee": "IOM",
            "purpose": "terugkeer",
            "until": (today + timedelta(days=10)).isoformat(),
        },
    )
    assert case.status_code == 201, case.text
    no_number_in_addresses(case, V_NUMBER)
    [share] = _shares(pages_hub)
    assert (share.grantor, share.grantee, share.purpose) == ("GM0363", "IOM", "terugkeer")

    listing = gemeente.get("/shares")
    assert listing.status_code == 200
    no_number_in_addresses(listing, V_NUMBER)
    revoke = f"/shares/{share.id}/revoke"
    assert any(a.get("action") == revoke for _, a in parsed(listing).elements)
    # IOM sees it received, without a revoke button.
    received = pages_hub.browser("IOM").get("/shares")
    assert str(share.id) not in received.text or revoke not in received.text

    for refused in (
        gemeente.post(revoke, data={}),
        gemeente.post(revoke, data={"csrf_token": "A" * 43}),
        gemeente.post(
            revoke,
            data={"csrf_token": gemeente.csrf_token},
            headers={"Origin": "https://evil.example"},
        ),
        pages_hub.browser("IOM").post(
            revoke, data={"csrf_token": gemeente.csrf_token}
        ),  # another session's token
    ):
        assert refused.status_code == 403, refused.text
    assert _shares(pages_hub)[0].revoked_at is None

    revoked = gemeente.post(revoke, data={"csrf_token": gemeente.csrf_token})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/shares"
    assert _shares(pages_hub)[0].revoked_at is not None


def test_a_share_form_without_the_token_is_refused(pages_hub: PagesHub) -> None:
    own = pages_hub.api.uploaded("GM0363", pdf(seed=3), document_type="case_info")
    gemeente = pages_hub.browser("GM0363")
    until = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    fields = {"document_id": own["id"], "grantee": "IOM", "purpose": "terugkeer", "until": until}
    assert gemeente.post("/shares/new", data=fields).status_code == 403
    late_token = {**fields, "csrf_token": gemeente.csrf_token}
    assert gemeente.post("/shares/new", data=late_token).status_code == 403  # not the first
    assert _shares(pages_hub) == []
