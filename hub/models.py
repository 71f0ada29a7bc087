"""Every table model, imported in one place so SQLModel's metadata is complete.

Alembic's consistency test and the test fixtures use ``SQLModel.metadata`` after importing this.
"""

from hub.organisations.models import Organisation
from hub.vault.models import SealedObject

__all__ = ["Organisation", "SealedObject"]
