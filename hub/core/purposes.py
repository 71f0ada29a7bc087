"""Processing activities (verwerkingsactiviteiten): the purposes the hub's data is used for.

A client acts for one of these, and a share names one. Each code maps to a URI in the register
of processing activities (``KETENHUB_PROCESSING_ACTIVITY_BASE`` + code); that URI is what
tokens carry and the audit trail records.
"""

from __future__ import annotations

from typing import Final

PROCESSING_ACTIVITIES: Final = {
    "terugkeer": "preparing and carrying out departure",
    "opvang": "reception and guidance",
    "voogdij": "guardianship of minors",
    "toezicht": "supervision and border control",
    "verantwoording": "accountability and audit",
}
