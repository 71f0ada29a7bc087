"""What the console calls the trail's tags and fields, in the person's language.

The trail stores English tags (``document.download``, ``denied``) and field names
(``policy_rule``); the console shows each with a readable name beside the tag itself, so an
auditor reads the page and can still search for exactly what is stored. A tag the catalogs do
not name (a newer hub's) is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from audit.events import LEAF_FIELDS, Action, Outcome
from hub.ui.rendering import N_

ACTION_LABELS: Final[Mapping[str, str]] = {
    Action.TOKEN_ISSUE: N_("Token issued"),
    Action.TOKEN_REVOKE: N_("Token revoked"),
    Action.TOKEN_INTROSPECT: N_("Token inspected"),
    Action.TOKEN_REFUSE: N_("Partner token refused"),
    Action.CLIENT_ADD: N_("Client registered"),
    Action.CLIENT_DISABLE: N_("Client disabled"),
    Action.CLIENT_ENABLE: N_("Client enabled"),
    Action.ORGANISATION_ADD: N_("Organisation added"),
    Action.ORGANISATION_DISABLE: N_("Organisation disabled"),
    Action.ORGANISATION_ENABLE: N_("Organisation enabled"),
    Action.ORGANISATION_UPDATE: N_("Organisation changed"),
    Action.KEY_ROTATE: N_("Key rotated"),
    Action.KEY_REWRAP: N_("Keys rewrapped"),
    Action.KEY_RETIRE: N_("Key retired"),
    Action.AUDIT_QUERY: N_("Audit trail read"),
    Action.AUDIT_EXPORT: N_("Audit trail exported"),
    Action.AUDIT_SUBJECT_REPORT: N_("Subject report made"),
    Action.AUDIT_CHECKPOINT: N_("Checkpoint signed"),
    Action.AUDIT_VERIFY: N_("Audit trail verified"),
    Action.DOCUMENT_UPLOAD: N_("Document uploaded"),
    Action.DOCUMENT_READ: N_("Document opened"),
    Action.DOCUMENT_LIST: N_("Documents listed"),
    Action.DOCUMENT_SEARCH: N_("Documents searched"),
    Action.DOCUMENT_DOWNLOAD: N_("Document downloaded"),
    Action.DOCUMENT_DELETE: N_("Document deleted"),
    Action.DOCUMENT_SHRED: N_("Document shredded"),
    Action.UPLOAD_CREATE: N_("Resumable upload started"),
    Action.UPLOAD_APPEND: N_("Resumable upload continued"),
    Action.UPLOAD_TERMINATE: N_("Resumable upload cancelled"),
    Action.UPLOAD_EXPIRE: N_("Resumable upload expired"),
    Action.SHARE_CREATE: N_("Share created"),
    Action.SHARE_REVOKE: N_("Share revoked"),
    Action.SHARE_READ: N_("Share opened"),
    Action.SHARE_LIST: N_("Shares listed"),
    Action.POLICY_LOAD: N_("Policy loaded"),
    Action.POLICY_EXPLAIN: N_("Policy explained"),
    Action.STORAGE_SWEEP: N_("Storage swept"),
    Action.METRICS_READ: N_("Metrics read"),
    Action.INBOX_READ: N_("What is new read"),
    Action.WEBHOOK_SUBSCRIBE: N_("Webhook subscribed"),
    Action.WEBHOOK_UNSUBSCRIBE: N_("Webhook removed"),
    Action.WEBHOOK_READ: N_("Webhooks read"),
    Action.LOGIN: N_("Logged in"),
    Action.USER_LOGOUT: N_("Logged out"),
    Action.USER_LOCK: N_("Account locked"),
    Action.USER_UNLOCK: N_("Account unlocked"),
    Action.USER_FACTOR_ENROL: N_("Second factor enrolled"),
    Action.USER_FACTOR_RESET: N_("Second factor reset"),
    Action.USER_PASSWORD_CHANGE: N_("Password changed"),
    Action.USER_PASSWORD_RESET: N_("Password reset"),
    Action.USER_ADD: N_("Person added"),
    Action.USER_DISABLE: N_("Person disabled"),
    Action.USER_ENABLE: N_("Person enabled"),
    Action.USER_RECOVERY_USE: N_("Recovery code used"),
    Action.USER_ROLE_CHANGE: N_("Roles changed"),
    Action.HTTP_REFUSE: N_("Request refused"),
    Action.HTTP_ERROR: N_("Request failed"),
    Action.HTTP_REFUSE_SUMMARY: N_("Refused requests counted"),
}

OUTCOME_LABELS: Final[Mapping[str, str]] = {
    Outcome.SUCCESS: N_("Success"),
    Outcome.DENIED: N_("Denied"),
    Outcome.NOT_FOUND: N_("Not found"),
    Outcome.INVALID: N_("Invalid"),
    Outcome.ERROR: N_("Error"),
}

FIELD_LABELS: Final[Mapping[str, str]] = {
    "seq": N_("Position (seq)"),
    "time": N_("Time (UTC, as recorded)"),
    "action": N_("Action"),
    "outcome": N_("Outcome"),
    "actor_type": N_("Kind of actor"),
    "actor_id": N_("Actor"),
    "organisation": N_("Organisation"),
    "resource_type": N_("Kind of resource"),
    "resource_id": N_("Resource"),
    "trace_id": N_("Trace"),
    "span_id": N_("Span"),
    "foreign_span_id": N_("Partner's span"),
    "processing_activity_id": N_("Processing activity"),
    "data_subject_id": N_("Data subject (pseudonym)"),
    "data_subject_id_type": N_("Kind of data subject"),
    "policy_rule": N_("Policy rule"),
    "source_address": N_("Source address"),
    "detail": N_("Detail"),
    "actor_issuer": N_("Partner issuer"),
    "actor_client": N_("Through client"),
    "content_sha256": N_("Content SHA-256"),
    "content_size": N_("Content size (bytes)"),
    "range": N_("Bytes served"),
}
"""A name for every leaf field (:data:`audit.events.LEAF_FIELDS`), in the leaf's order."""

if tuple(FIELD_LABELS) != LEAF_FIELDS:  # pragma: no cover - a new leaf field needs its name
    raise RuntimeError("FIELD_LABELS must name every leaf field, in order")
