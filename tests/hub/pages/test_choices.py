"""What the demo policy leaves the upload and share forms, and the rule behind every refusal
(:mod:`hub.pages.choices`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.pages.choices import ZONE, latest_day, share_choices, share_expiry, today, upload_choices
from hub.rules import demo_policy_bytes
from hub.rules.loader import load_policy
from hub.rules.model import Party, Policy, ShareScope
from hub.tables.organisations import Organisation

SEEDS = CHAIN + DEMO_GEMEENTEN


@pytest.fixture(scope="module")
def policy() -> Policy:
    kinds = {seed.code: seed.kind for seed in SEEDS}
    return load_policy(demo_policy_bytes(), source="demo.yaml", organisations=kinds)


def organisations(*, disabled: frozenset[str] = frozenset()) -> list[Organisation]:
    return [
        Organisation(code=s.code, name=s.name, kind=s.kind, enabled=s.code not in disabled)
        for s in SEEDS
    ]


def party(code: str) -> Party:
    kind = next(seed.kind for seed in SEEDS if seed.code == code)
    return Party(code, kind)


def test_iom_may_upload_travel_documents_only_and_is_told_why_not_the_rest(
    policy: Policy,
) -> None:
    choices = upload_choices(policy, party("IOM"))
    assert [o.document_type for o in choices.options] == ["travel_document"]
    assert choices.options[0].max_size == 256 * 1024 * 1024
    assert {(r.document_type, r.rule) for r in choices.refused} == {
        ("decision", "default-deny"),
        ("case_info", "default-deny"),
    }


def test_a_gemeente_uploads_case_info_by_its_kind(policy: Policy) -> None:
    choices = upload_choices(policy, party("GM0363"))
    assert [o.document_type for o in choices.options] == ["case_info"]
    assert choices.offers("case_info")
    assert not choices.offers("travel_document")


def test_dtv_shares_every_type_of_a_case_with_everyone_enabled(policy: Policy) -> None:
    choices = share_choices(policy, party("DTV"), organisations(disabled=frozenset({"NIDOS"})))
    assert [(o.document_type, o.scope, o.max_days) for o in choices.options] == [
        ("travel_document", ShareScope.ALL, 90),
        ("decision", ShareScope.ALL, 30),
        ("case_info", ShareScope.ALL, 90),
    ]
    codes = [g.code for g in choices.grantees]
    assert "DTV" not in codes, "never to itself"
    assert "NIDOS" not in codes, "never to a disabled organisation"
    assert "GM0363" in codes
    assert choices.max_days(["travel_document", "decision"]) == 30
    # The case form's date field takes the most lenient of them: a share of travel documents
    # alone may run 90 days; the service refuses a day beyond the strictest ticked type.
    assert choices.longest_days([]) == 90
    assert choices.longest_days(["decision"]) == 30
    assert set(choices.purposes) >= {"terugkeer", "opvang"}


def test_an_uploader_shares_only_its_own_and_is_told_why_not_the_rest(policy: Policy) -> None:
    choices = share_choices(policy, party("IOM"), organisations())
    assert [(o.document_type, o.scope) for o in choices.options] == [
        ("travel_document", ShareScope.OWN),
    ]
    # It may share its own case information, but may upload none: nothing to offer.
    assert [(r.document_type, r.rule) for r in choices.refused] == [
        ("decision", "default-deny"),
        ("case_info", "default-deny"),
    ]


def test_one_document_is_decided_for_its_uploader(policy: Policy) -> None:
    own = share_choices(
        policy, party("IOM"), organisations(), document_type="travel_document", uploader="IOM"
    )
    assert [o.document_type for o in own.options] == ["travel_document"]
    assert own.allowed
    other = share_choices(
        policy, party("IOM"), organisations(), document_type="travel_document", uploader="DTV"
    )
    assert not other.allowed
    assert [(r.document_type, r.rule) for r in other.refused] == [
        ("travel_document", "default-deny")
    ]


def test_nobody_to_receive_means_no_share(policy: Policy) -> None:
    only_dtv = [o for o in organisations() if o.code in {"DTV", "IOM"}]
    for other in only_dtv:
        if other.code == "IOM":
            other.enabled = False
    choices = share_choices(policy, party("DTV"), only_dtv)
    assert not choices.allowed
    assert choices.grantees == ()


def test_a_share_until_a_day_ends_at_midnight_in_the_netherlands() -> None:
    assert share_expiry(date(2026, 3, 12)) == datetime(2026, 3, 13, tzinfo=ZONE)
    assert share_expiry(date(2026, 3, 12)).astimezone(UTC) == datetime(2026, 3, 12, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 1, 10, 9, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 30, tzinfo=UTC),  # already 2 March in Amsterdam
        datetime(2026, 10, 20, 22, 59, 59, tzinfo=UTC),  # across the autumn clock change
    ],
)
def test_the_latest_day_offered_ends_within_the_maximum(now: datetime) -> None:
    for days in (30, 90):
        last = latest_day(now, days)
        assert share_expiry(last) <= now + timedelta(days=days)
        assert share_expiry(last + timedelta(days=1)) > now + timedelta(days=days)
        assert today(now) <= last
