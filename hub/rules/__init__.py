"""The declarative sharing policy: which organisation may upload, read, share, delete and
receive which type of document. Deny by default; every decision names its rule.

- :mod:`hub.rules.model`: the loaded :class:`Policy` and its pure, precomputed decisions.
- :mod:`hub.rules.loader`: reading the administrator's YAML file, every error with its line.
- :mod:`hub.rules.install`: the demo and starter policies that ``ketenhub init`` installs.
- ``demo.yaml``: DESIGN.md's demo policy, which ``ketenhub init --demo`` installs.

The policy's API is the feature :mod:`hub.policy`.
"""

from __future__ import annotations

from importlib import resources

from hub.rules.loader import PolicyError, load_policy, load_policy_file
from hub.rules.model import (
    DEFAULT_DENY,
    UNKNOWN_DOCUMENT_TYPE,
    UPLOADER_READS_OWN,
    Decision,
    DocumentType,
    Party,
    Policy,
    PolicyAction,
    Retention,
    ShareScope,
)

__all__ = [
    "DEFAULT_DENY",
    "UNKNOWN_DOCUMENT_TYPE",
    "UPLOADER_READS_OWN",
    "Decision",
    "DocumentType",
    "Party",
    "Policy",
    "PolicyAction",
    "PolicyError",
    "Retention",
    "ShareScope",
    "demo_policy_bytes",
    "load_policy",
    "load_policy_file",
]


def demo_policy_bytes() -> bytes:
    """The demo policy file as shipped in the package (``init --demo`` copies it)."""
    return resources.files(__name__).joinpath("demo.yaml").read_bytes()
