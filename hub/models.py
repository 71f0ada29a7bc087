"""Every table model, imported in one place so SQLModel's metadata is complete.

Alembic's consistency test and the migration environment use ``SQLModel.metadata`` after
importing this.
"""

from audit.models import AuditCheckpoint, AuditEvent, AuditKey, AuditNode
from auth.models import OAuthClient, RevokedToken, SigningKey, UsedAssertion
from hub.documents.models import Document
from hub.organisations.models import Organisation
from hub.shares.models import Share, ShareType
from hub.subjects.models import SubjectKey
from hub.vault.models import SealedObject

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditKey",
    "AuditNode",
    "Document",
    "OAuthClient",
    "Organisation",
    "RevokedToken",
    "SealedObject",
    "Share",
    "ShareType",
    "SigningKey",
    "SubjectKey",
    "UsedAssertion",
]
