"""Installing a policy file into a fresh data directory (``ketenhub init``).

``init --demo`` installs DESIGN.md's demo policy. Plain ``init`` installs a starter policy
with the processing activities and no document types: deny by default means a new hub
accepts nothing until an administrator writes the policy. An existing file is never
overwritten: it is the administrator's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.rules import demo_policy_bytes

_STARTER_HEADER: Final = """\
# Ketenhub sharing policy. DENY BY DEFAULT: with no document types below, nothing can be
# uploaded, read or shared. See the demo policy (ketenhub init --demo, or hub/rules/demo.yaml
# in the source) for every list a document type has, and how its rules are named.

version: "1"

purposes:
"""


def starter_policy() -> bytes:
    purposes = "".join(f"  {code}: {text}\n" for code, text in PROCESSING_ACTIVITIES.items())
    return (_STARTER_HEADER + purposes + "\ndocument_types: {}\n").encode("utf-8")


def install_policy(path: Path, *, demo: bool) -> bool:
    """Write the demo or starter policy to ``path`` unless a file is there; True if written."""
    content = demo_policy_bytes() if demo else starter_policy()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    return True
