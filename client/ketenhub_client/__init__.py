"""ketenhub-client: the partner client of Ketenhub, an SDK (:class:`Hub`) and a command.

A partner system installs this distribution alone (``pip install ./client``), without the
server. :class:`Hub` gets tokens with ``private_key_jwt``, uploads resumably (tus), downloads
with resume and a digest check, and reads the audit log's public parts, so that
:mod:`ketenhub_client.receipts` can verify what the hub vouched for. The command
``ketenhub-client`` (:mod:`ketenhub_client.cli`) does the same from a shell.
"""

from ketenhub_client._version import __version__
from ketenhub_client.config import Settings, load_settings
from ketenhub_client.credentials import ClientKey
from ketenhub_client.errors import (
    AuthenticationFailed,
    ConfigError,
    HubRefused,
    HubUnavailable,
    KetenhubClientError,
    NotFound,
    SplitView,
    VerificationFailed,
)
from ketenhub_client.hub import Hub
from ketenhub_client.models import Document, Download, Receipt, Share, Upload

__all__ = [
    "AuthenticationFailed",
    "ClientKey",
    "ConfigError",
    "Document",
    "Download",
    "Hub",
    "HubRefused",
    "HubUnavailable",
    "KetenhubClientError",
    "NotFound",
    "Receipt",
    "Settings",
    "Share",
    "SplitView",
    "Upload",
    "VerificationFailed",
    "__version__",
    "load_settings",
]
