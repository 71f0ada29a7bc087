"""Every table model, imported in one place so SQLModel's metadata is complete.

Alembic's consistency test and the migration environment use ``SQLModel.metadata`` after
importing this.
"""

from audit.models import AuditCheckpoint, AuditEvent, AuditKey, AuditNode
from auth.models import (
    AuthorizationCode,
    OAuthClient,
    RefreshToken,
    RevokedToken,
    SigningKey,
    UsedAssertion,
    UserAccount,
    UserActionToken,
    UserLoginThrottle,
    UserRecoveryCode,
)
from hub.tables.documents import Document
from hub.tables.idempotency import IdempotencyKey
from hub.tables.inbox import InboxMarker
from hub.tables.integrity import AuditVerification
from hub.tables.organisations import Organisation
from hub.tables.replicas import HubReplica
from hub.tables.shares import Share, ShareType
from hub.tables.subjects import SubjectKey
from hub.tables.timers import TimerLease
from hub.tables.uploads import Upload, UploadPart
from hub.tables.vault import SealedObject
from hub.tables.web_sessions import WebSession, WebSessionKey
from hub.tables.webhooks import WebhookDelivery, WebhookMessage, WebhookSubscription

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditKey",
    "AuditNode",
    "AuditVerification",
    "AuthorizationCode",
    "Document",
    "HubReplica",
    "IdempotencyKey",
    "InboxMarker",
    "OAuthClient",
    "Organisation",
    "RefreshToken",
    "RevokedToken",
    "SealedObject",
    "Share",
    "ShareType",
    "SigningKey",
    "SubjectKey",
    "TimerLease",
    "Upload",
    "UploadPart",
    "UsedAssertion",
    "UserAccount",
    "UserActionToken",
    "UserLoginThrottle",
    "UserRecoveryCode",
    "WebSession",
    "WebSessionKey",
    "WebhookDelivery",
    "WebhookMessage",
    "WebhookSubscription",
]
