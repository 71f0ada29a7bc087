"""The login's state machine: each step accepts only its own form, and progress expires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auth.code_grant import AuthorizationRequest
from hub.login.progress import (
    LOGIN_WINDOW,
    MAX_PENDING_AGE,
    Authorization,
    PendingLogin,
    Step,
    StepMismatch,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REQUEST = AuthorizationRequest(
    client_id="ketenhub-web",
    redirect_uri="http://127.0.0.1:8000/login/callback",
    scope="documents:read",
    state="s",
    code_challenge="c" * 43,
)
STORED_REQUEST = {
    "client_id": "c",
    "redirect_uri": "r",
    "scope": "s",
    "state": "t",
    "code_challenge": "x",
}


def test_password_then_factor_then_code() -> None:
    started = Authorization.begin(REQUEST, now=NOW)
    assert started.step is Step.PASSWORD
    assert started.user_id is None
    factor = started.password_accepted(user_id="u-1", enrolled=True)
    assert factor.step is Step.FACTOR
    assert factor.ready_for_code() == "u-1"


def test_a_new_user_enrols_before_a_code_is_issued() -> None:
    enrol = Authorization.begin(REQUEST, now=NOW).password_accepted(user_id="u-1", enrolled=False)
    assert enrol.step is Step.ENROL
    assert enrol.ready_to_enrol() == "u-1"
    with pytest.raises(StepMismatch):
        enrol.ready_for_code()
    shown = enrol.enrolling("otpauth://totp/Ketenhub:x?secret=ABC")
    assert shown.enrolment_uri is not None
    enrolled = shown.factor_enrolled()
    assert enrolled.step is Step.ENROLLED
    assert enrolled.enrolment_uri is None
    assert enrolled.ready_for_code() == "u-1"


def test_no_code_after_the_password_alone() -> None:
    with pytest.raises(StepMismatch):
        Authorization.begin(REQUEST, now=NOW).ready_for_code()


def test_a_step_refuses_another_steps_transition() -> None:
    factor = Authorization.begin(REQUEST, now=NOW).password_accepted(user_id="u", enrolled=True)
    with pytest.raises(StepMismatch):
        factor.password_accepted(user_id="someone-else", enrolled=True)
    with pytest.raises(StepMismatch):
        factor.factor_enrolled()
    with pytest.raises(StepMismatch):
        factor.ready_to_enrol()


def test_a_form_of_another_step_is_stale() -> None:
    factor = Authorization.begin(REQUEST, now=NOW).password_accepted(user_id="u", enrolled=True)
    factor.expect("factor")
    for other in ("password", "enrol", "enrolled", None, ""):
        with pytest.raises(StepMismatch):
            factor.expect(other)


def test_each_step_names_its_fields() -> None:
    assert Step.PASSWORD.fields == {"username", "password"}
    assert Step.FACTOR.fields == Step.ENROL.fields == {"code"}
    assert Step.ENROLLED.fields == frozenset()


def test_progress_round_trips_and_expires_with_its_window() -> None:
    factor = Authorization.begin(REQUEST, now=NOW).password_accepted(user_id="u", enrolled=True)
    stored = factor.to_json()
    assert Authorization.from_json(stored, now=NOW + LOGIN_WINDOW / 2) == factor
    assert Authorization.from_json(stored, now=NOW + LOGIN_WINDOW) is None
    enrol = Authorization.begin(REQUEST, now=NOW).password_accepted(user_id="u", enrolled=False)
    shown = enrol.enrolling("otpauth://totp/x")
    assert Authorization.from_json(shown.to_json(), now=NOW) == shown


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "text",
        {},
        {"request": STORED_REQUEST, "step": "factor", "started_at": NOW.isoformat()},  # nobody
        {
            "request": STORED_REQUEST,
            "step": "password",
            "started_at": NOW.isoformat(),
            "user_id": "u",
        },
        {"request": STORED_REQUEST, "step": "other", "started_at": NOW.isoformat()},
        {"request": [["a"]], "step": "password", "started_at": NOW.isoformat()},
        {"request": {"client_id": "c"}, "step": "password", "started_at": NOW.isoformat()},
        {
            "request": {**STORED_REQUEST, "state": 1},
            "step": "password",
            "started_at": NOW.isoformat(),
        },
        {"request": STORED_REQUEST, "step": "password", "started_at": "yesterday"},
        {"request": STORED_REQUEST, "step": "password", "started_at": "2025-03-01T12:00:00"},
    ],
)
def test_malformed_progress_is_absent(stored: object) -> None:
    assert Authorization.from_json(stored, now=NOW) is None


def test_pending_login_round_trips_and_expires() -> None:
    pending = PendingLogin("state", "verifier", "/documents", NOW)
    assert PendingLogin.from_json(pending.to_json(), now=NOW) == pending
    assert PendingLogin.from_json(pending.to_json(), now=NOW + MAX_PENDING_AGE) is None
    assert PendingLogin.from_json({"state": "s"}, now=NOW) is None
    assert PendingLogin.from_json(None, now=NOW) is None


def test_progress_travels_as_text_and_garbage_is_absent() -> None:
    factor = Authorization.begin(REQUEST, now=NOW).password_accepted(user_id="u", enrolled=True)
    assert Authorization.decode(factor.encode(), now=NOW) == factor
    pending = PendingLogin("state", "verifier", "/", NOW)
    assert PendingLogin.decode(pending.encode(), now=NOW) == pending
    for garbage in (None, "", "{", "[]", "null"):
        assert Authorization.decode(garbage, now=NOW) is None
        assert PendingLogin.decode(garbage, now=NOW) is None
