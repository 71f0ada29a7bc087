"""Every table model, imported in one place so SQLModel's metadata is complete.

Alembic's consistency test and the migration environment use ``SQLModel.metadata`` after
importing this.
"""

from audit.models import AuditCheckpoint, AuditEvent, AuditKey, AuditNode
from auth.models import OAuthClient, RevokedToken, SigningKey, UsedAssertion
from hub.organisations.models import Organisation
from hub.vault.models import SealedObject

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditKey",
    "AuditNode",
    "OAuthClient",
    "Organisation",
    "RevokedToken",
    "SealedObject",
    "SigningKey",
    "UsedAssertion",
]
