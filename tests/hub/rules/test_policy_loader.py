"""Loading the policy file: the demo loads, and every mistake is refused at its line.

Each refusal test edits one line of a small valid policy, marks the line it expects the error
on with ``# <-``, and checks that the message starts with ``source:line:`` and says what is
wrong. The files are real YAML, parsed by the real loader.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules import (
    Party,
    PolicyAction,
    PolicyError,
    demo_policy_bytes,
    load_policy,
    load_policy_file,
)
from hub.rules.loader import MAX_POLICY_BYTES
from hub.tables.organisations import OrganisationKind

ORGANISATIONS = {seed.code: seed.kind for seed in CHAIN + DEMO_GEMEENTEN}
DEMO_FILE = Path(__file__).parents[3] / "hub" / "rules" / "demo.yaml"
SOURCE = "test.yaml"

BASE = """\
version: "1"
purposes:
  terugkeer: departure
document_types:
  travel_document:
    content_types: [application/pdf]
    max_size: 1 MiB
    retention: 5 years
    upload: [DTV]
    read: [DTV]
    share: [DTV, uploader]
    share_to: [any]
    max_share_duration: 90 days
    delete: [DTV, uploader]
"""


def _edit(old: str, new: str, text: str = BASE) -> str:
    """``text`` with the one line ``old`` replaced by ``new`` (which may be several lines)."""
    lines = text.splitlines()
    assert lines.count(old) == 1, f"{old!r} is not one line of the base policy"
    lines[lines.index(old)] = new
    return "\n".join(lines) + "\n"


def _refused(text: str, *fragments: str) -> PolicyError:
    """Load ``text``; it must fail on the line marked ``# <-``, saying every fragment."""
    marked = [n for n, line in enumerate(text.splitlines(), start=1) if line.endswith("# <-")]
    assert len(marked) == 1, "mark exactly one line with # <-"
    with pytest.raises(PolicyError) as caught:
        load_policy(text, source=SOURCE, organisations=ORGANISATIONS)
    error = caught.value
    assert str(error).startswith(f"{SOURCE}:{marked[0]}:"), str(error)
    assert error.line == marked[0]
    for fragment in fragments:
        assert fragment in str(error)
    return error


# -- what loads ------------------------------------------------------------------------------


def test_the_base_policy_of_these_tests_loads() -> None:
    policy = load_policy(BASE, source=SOURCE, organisations=ORGANISATIONS)
    assert policy.version == "1"
    assert list(policy.document_types) == ["travel_document"]


def test_the_demo_policy_loads_against_the_chain_and_demo_gemeenten() -> None:
    policy = load_policy_file(DEMO_FILE, organisations=ORGANISATIONS)
    assert policy.version == "demo-1"
    assert policy.source == str(DEMO_FILE)
    assert set(policy.document_types) == {"travel_document", "decision", "case_info"}


def test_the_demo_policy_purposes_are_the_processing_activities() -> None:
    policy = load_policy_file(DEMO_FILE, organisations=ORGANISATIONS)
    assert dict(policy.purposes) == PROCESSING_ACTIVITIES


def test_the_packaged_demo_policy_is_the_file() -> None:
    assert demo_policy_bytes() == DEMO_FILE.read_bytes()


def test_the_hash_is_sha256_of_the_exact_bytes() -> None:
    data = DEMO_FILE.read_bytes()
    policy = load_policy(data, source="demo", organisations=ORGANISATIONS)
    assert policy.hash == "sha256:" + hashlib.sha256(data).hexdigest()
    # A comment changes nothing a decision sees, but it is another file: another hash.
    edited = load_policy(data + b"# edited\n", source="demo", organisations=ORGANISATIONS)
    assert edited.hash != policy.hash


def test_the_demo_policy_rules_in_units() -> None:
    policy = load_policy_file(DEMO_FILE, organisations=ORGANISATIONS)
    travel = policy.document_type("travel_document")
    decision = policy.document_type("decision")
    case_info = policy.document_type("case_info")
    assert travel is not None
    assert decision is not None
    assert case_info is not None
    assert travel.max_size == 256 * 1024 * 1024
    assert decision.max_size == 64 * 1024 * 1024
    assert case_info.max_size == 2 * 1024 * 1024 * 1024
    assert (travel.retention.years, decision.retention.years, case_info.retention.years) == (
        5,
        10,
        2,
    )
    assert travel.max_share_duration == timedelta(days=90)
    assert decision.max_share_duration == timedelta(days=30)
    assert case_info.max_share_duration == timedelta(days=90)
    assert set(travel.content_types) == {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/tiff",
    }
    assert decision.content_types == ("application/pdf",)
    assert set(case_info.content_types) == {"application/pdf", "image/jpeg", "image/png"}


def test_a_kind_grants_an_organisation_added_after_loading() -> None:
    policy = load_policy_file(DEMO_FILE, organisations=ORGANISATIONS)
    newcomer = Party("GM0599", OrganisationKind.GEMEENTE)  # Rotterdam, not in the mapping
    decision = policy.decide(newcomer, PolicyAction.UPLOAD, "case_info")
    assert (decision.allowed, decision.rule) == (True, "case_info.upload[gemeente]")


def test_weeks_and_days_are_read() -> None:
    text = _edit("    retention: 5 years", "    retention: 6 weeks")
    text = _edit("    max_share_duration: 90 days", "    max_share_duration: 2 weeks", text)
    policy = load_policy(text, source=SOURCE, organisations=ORGANISATIONS)
    travel = policy.document_type("travel_document")
    assert travel is not None
    assert (travel.retention.years, travel.retention.days) == (0, 42)
    assert travel.max_share_duration == timedelta(days=14)


def test_a_type_nobody_may_share_needs_no_share_to() -> None:
    text = _edit("    share: [DTV, uploader]", "    share: []")
    text = _edit("    share_to: [any]", "", text)
    text = _edit("    max_share_duration: 90 days", "", text)
    policy = load_policy(text, source=SOURCE, organisations=ORGANISATIONS)
    travel = policy.document_type("travel_document")
    assert travel is not None
    assert travel.max_share_duration is None


def test_retention_years_are_calendar_years() -> None:
    policy = load_policy(BASE, source=SOURCE, organisations=ORGANISATIONS)
    travel = policy.document_type("travel_document")
    assert travel is not None
    start = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
    assert travel.retention.expires_at(start) == datetime(2030, 3, 3, 9, 30, tzinfo=UTC)


def test_retention_from_29_february_ends_on_1_march() -> None:
    policy = load_policy(BASE, source=SOURCE, organisations=ORGANISATIONS)
    travel = policy.document_type("travel_document")
    assert travel is not None
    start = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
    assert travel.retention.expires_at(start) == datetime(2029, 3, 1, 12, 0, tzinfo=UTC)


# -- refusals: the file as a whole ---------------------------------------------------------


def test_invalid_yaml() -> None:
    _refused(_edit("    upload: [DTV]", "\tupload: [DTV]  # <-"), "not valid YAML", "'\\t'")


def test_invalid_yaml_names_where_the_construct_began() -> None:
    """PyYAML notices an unclosed list on the next line; the message points back to it."""
    text = _edit("    read: [DTV]", "    read: [DTV")
    with pytest.raises(PolicyError) as caught:
        load_policy(text, source=SOURCE, organisations=ORGANISATIONS)
    assert str(caught.value).startswith(f"{SOURCE}:11:")
    assert "(while parsing a flow sequence started on line 10)" in str(caught.value)


def test_not_utf8() -> None:
    text = _edit("  terugkeer: departure", "  terugkeer: \u00e9\u00e9n d?part  # <-")
    data = text.encode("utf-8").replace(b"?", b"\xe9")  # one Latin-1 byte after UTF-8 ones
    with pytest.raises(PolicyError) as caught:
        load_policy(data, source=SOURCE, organisations=ORGANISATIONS)
    # The column counts characters, not bytes: the bad byte follows "  terugkeer: een d".
    assert str(caught.value).startswith(f"{SOURCE}:3:19:")
    assert "not valid UTF-8" in str(caught.value)


def test_a_control_character() -> None:
    _refused(_edit("  terugkeer: departure", "  terugkeer: dep\x07arture  # <-"), "not valid YAML")


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted() -> None:
    data = b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode("utf-8")
    policy = load_policy(data, source=SOURCE, organisations=ORGANISATIONS)
    assert policy.hash == "sha256:" + hashlib.sha256(data).hexdigest()


def test_kinds_given_as_text_are_understood() -> None:
    """Kinds read from database rows may be plain strings rather than the enum."""
    as_text = {code: str(kind) for code, kind in ORGANISATIONS.items()}
    text = _edit("    upload: [DTV]", "    upload: [gemeente, GM0363]  # <-")
    with pytest.raises(PolicyError, match="already covered by 'gemeente'"):
        load_policy(text, source=SOURCE, organisations=as_text)  # type: ignore[arg-type]


def test_an_empty_file() -> None:
    with pytest.raises(PolicyError, match=r"^test\.yaml:1:1: the policy is empty$"):
        load_policy("# nothing here\n", source=SOURCE, organisations=ORGANISATIONS)


def test_too_large_a_file() -> None:
    text = BASE + "#" * MAX_POLICY_BYTES + "\n"
    with pytest.raises(PolicyError, match=r"^test\.yaml:1:1: the file is larger"):
        load_policy(text, source=SOURCE, organisations=ORGANISATIONS)


def test_two_yaml_documents() -> None:
    _refused(BASE + "---  # <-\nversion: '2'\n", "single document")


def test_the_policy_is_a_list() -> None:
    _refused("- version  # <-\n", "the policy must be a mapping", "not a list")


def test_unknown_top_level_key() -> None:
    _refused(_edit("purposes:", "purpose:  # <-"), "unknown key 'purpose'", "'purposes'")


def test_missing_top_level_key() -> None:
    text = _edit('version: "1"', "# no version  # <-")
    # The complaint is about the policy as a whole: it points at the first key it has.
    text = _edit("# no version  # <-", "purposes:  # <-", _edit("purposes:", "", text))
    _refused(text, "the policy is missing the key 'version'")


def test_duplicate_top_level_key() -> None:
    _refused(BASE + 'version: "2"  # <-\n', "'version' appears twice", "first on line 1")


def test_version_is_a_number() -> None:
    _refused(_edit('version: "1"', "version: 1.5  # <-"), "'version' must be text", "quotes")


def test_a_python_tag_constructs_nothing() -> None:
    _refused(
        _edit('version: "1"', "version: !!python/object/apply:os.system [ls]  # <-"),
        "'version' must be text, not a list",
    )


# -- refusals: purposes ----------------------------------------------------------------------


def test_no_purposes() -> None:
    text = _edit("purposes:", "purposes: {}  # <-", _edit("  terugkeer: departure", ""))
    _refused(text, "at least one processing activity")


def test_a_purpose_code_in_capitals() -> None:
    _refused(_edit("  terugkeer: departure", "  Terugkeer: departure  # <-"), "purpose code")


def test_a_purpose_without_description() -> None:
    _refused(_edit("  terugkeer: departure", "  terugkeer:  # <-"), "must be text, not empty")


# -- refusals: document types ----------------------------------------------------------------


def test_a_policy_without_document_types_allows_nothing() -> None:
    """The starter policy of a new hub: it loads, and every question is denied."""
    text = 'version: "1"\npurposes: {terugkeer: departure}\ndocument_types: {}\n'
    policy = load_policy(text, source=SOURCE, organisations=ORGANISATIONS)
    dtv = Party("DTV", OrganisationKind.RIJK)
    assert policy.decide(dtv, PolicyAction.UPLOAD, "travel_document").rule == (
        "unknown-document-type"
    )
    assert policy.readable_types(dtv) == frozenset()


def test_document_types_left_empty() -> None:
    _refused('version: "1"\npurposes: {a: b}\ndocument_types:  # <-\n', "must be a mapping")


def test_a_document_type_name_in_capitals() -> None:
    _refused(_edit("  travel_document:", "  TravelDocument:  # <-"), "must be lower case")


def test_duplicate_document_type() -> None:
    text = BASE + "  travel_document:  # <-\n    content_types: [application/pdf]\n"
    _refused(text, "'travel_document' appears twice", "first on line 5")


def test_duplicate_key_in_a_document_type() -> None:
    _refused(
        _edit("    read: [DTV]", "    read: [DTV]\n    read: [DTV, IND]  # <-"),
        "'read' appears twice in document type 'travel_document' (first on line 10)",
    )


def test_unknown_key_in_a_document_type() -> None:
    _refused(_edit("    read: [DTV]", "    reads: [DTV]  # <-"), "unknown key 'reads'", "'read'?")


def test_missing_key_in_a_document_type() -> None:
    text = _edit("  travel_document:", "  travel_document:  # <-")
    _refused(_edit("    retention: 5 years", "", text), "missing the key 'retention'")


def test_missing_share_to() -> None:
    text = _edit("  travel_document:", "  travel_document:  # <-")
    _refused(_edit("    share_to: [any]", "", text), "may be shared, so it needs 'share_to'")


def test_missing_max_share_duration() -> None:
    text = _edit("  travel_document:", "  travel_document:  # <-")
    _refused(
        _edit("    max_share_duration: 90 days", "", text),
        "may be shared, so it needs 'max_share_duration'",
    )


def test_share_to_without_anyone_who_may_share() -> None:
    text = _edit("    share: [DTV, uploader]", "    share: []")
    text = _edit("    share_to: [any]", "    share_to: [any]  # <-", text)
    _refused(text, "'share_to' has no effect: nobody may share travel_document")


def test_a_list_left_empty_by_accident() -> None:
    _refused(_edit("    read: [DTV]", "    read:  # <-"), "must be a list, not empty", "[]")


def test_a_list_written_as_one_word() -> None:
    _refused(_edit("    read: [DTV]", "    read: DTV  # <-"), "must be a list, not text")


def test_a_list_of_lists() -> None:
    _refused(_edit("    read: [DTV]", "    read: [[DTV]]  # <-"), "must be text, not a list")


# -- refusals: subjects ----------------------------------------------------------------------


def test_unknown_organisation_code() -> None:
    _refused(
        _edit("    read: [DTV]", "    read: [DTV, XYZ]  # <-"),
        "unknown organisation 'XYZ' in travel_document.read",
    )


def test_unknown_kind() -> None:
    _refused(
        _edit("    upload: [DTV]", "    upload: [DTV, gemeenten]  # <-"),
        "unknown subject 'gemeenten'",
        "did you mean 'gemeente'?",
    )


def test_an_organisation_code_in_lower_case() -> None:
    _refused(_edit("    read: [DTV]", "    read: [dtv]  # <-"), "upper case: 'DTV'")


def test_a_subject_listed_twice() -> None:
    _refused(_edit("    read: [DTV]", "    read: [DTV, IND, DTV]  # <-"), "'DTV' is listed twice")


def test_any_beside_other_subjects() -> None:
    _refused(_edit("    share_to: [any]", "    share_to: [DTV, any]  # <-"), "list it alone")


def test_a_code_already_covered_by_its_kind() -> None:
    _refused(
        _edit("    upload: [DTV]", "    upload: [gemeente, GM0363]  # <-"),
        "'GM0363' in travel_document.upload is already covered by 'gemeente'",
    )


def test_uploader_may_not_upload() -> None:
    _refused(_edit("    upload: [DTV]", "    upload: [DTV, uploader]  # <-"), "no document exists")


def test_uploader_may_not_be_a_share_recipient() -> None:
    _refused(_edit("    share_to: [any]", "    share_to: [uploader]  # <-"), "reads its own")


def test_nobody_may_upload() -> None:
    _refused(_edit("    upload: [DTV]", "    upload: []  # <-"), "nobody could upload")


def test_nobody_may_receive_a_share() -> None:
    _refused(_edit("    share_to: [any]", "    share_to: []  # <-"), "nobody could receive")


# -- refusals: content types, sizes, durations ------------------------------------------------


def test_unknown_content_type() -> None:
    _refused(
        _edit(
            "    content_types: [application/pdf]",
            "    content_types: [application/pdf, image/gif]  # <-",
        ),
        "unknown content type 'image/gif'",
    )


def test_no_content_types() -> None:
    _refused(
        _edit("    content_types: [application/pdf]", "    content_types: []  # <-"),
        "nothing could be uploaded",
    )


def test_bad_size_unit() -> None:
    _refused(
        _edit("    max_size: 1 MiB", "    max_size: 256 MB  # <-"),
        "unknown size unit 'MB'",
        "binary units",
    )


def test_a_size_that_is_not_one() -> None:
    _refused(_edit("    max_size: 1 MiB", "    max_size: big  # <-"), "'big' is not a size")


def test_a_size_without_unit() -> None:
    _refused(_edit("    max_size: 1 MiB", "    max_size: 1048576  # <-"), "must be text")


def test_a_zero_size() -> None:
    _refused(_edit("    max_size: 1 MiB", "    max_size: 0 MiB  # <-"), "more than 0")


def test_a_size_beyond_what_s3_stores() -> None:
    _refused(_edit("    max_size: 1 MiB", "    max_size: 6 TiB  # <-"), "at most 5 TiB")


def test_a_duration_that_is_not_one() -> None:
    _refused(
        _edit("    retention: 5 years", "    retention: 5 jaar  # <-"),
        "retention cannot be in 'jaar'",
    )


def test_a_duration_without_unit() -> None:
    _refused(_edit("    retention: 5 years", "    retention: '5'  # <-"), "is not a duration")


def test_retention_in_months() -> None:
    _refused(
        _edit("    retention: 5 years", "    retention: 18 months  # <-"),
        "months differ in length",
    )


def test_a_share_maximum_in_years() -> None:
    _refused(
        _edit("    max_share_duration: 90 days", "    max_share_duration: 1 year  # <-"),
        "max_share_duration cannot be in 'year'",
    )


def test_a_zero_duration() -> None:
    _refused(
        _edit("    max_share_duration: 90 days", "    max_share_duration: 0 days  # <-"),
        "more than 0",
    )


def test_a_retention_over_a_century() -> None:
    _refused(_edit("    retention: 5 years", "    retention: 150 years  # <-"), "at most 100 years")
