"""The ``ketenhub`` command line.

::

    ketenhub init [--demo]          data dir, key ring, migrated database, organisations, keys,
                                    the policy file (demo or starter) if missing
    ketenhub migrate                upgrade the database schema only (run as the owner role)
    ketenhub serve [--host H] [--port P] [--workers N]
    ketenhub keys list              key-encryption keys, which is current, wraps and live keys
    ketenhub keys rotate            new KEK for new data keys; old ones keep working
    ketenhub keys rewrap            move every live data key to the current KEK
    ketenhub keys retire KEK_ID     destroy a KEK that no live data key needs any more
    ketenhub keys rotate --signing|--audit   new token signing key, or audit checkpoint key
    ketenhub client add|list|disable|enable  partner systems (OAuth clients)
    ketenhub org add|list|disable|enable|import   organisations (gemeenten by CBS code)
    ketenhub audit verify [--checkpoint FILE]   recompute and check the whole audit trail
    ketenhub audit checkpoint       sign (and export) a checkpoint of the log now
    ketenhub storage check          rows without objects (data loss), objects without rows
    ketenhub storage sweep [--grace S] [--dry-run]   remove orphan objects and stale writes
    ketenhub documents expire       crypto-shred documents whose retention has ended

Every command reads its configuration from ``KETENHUB_*`` variables (see the README). Errors
are one line on stderr and a non-zero exit status, never a traceback: exit 1 for an operational
failure, 2 for a usage or configuration error.

One module per command group: :mod:`hub.cli.init` (init, migrate), :mod:`hub.cli.serve`,
:mod:`hub.cli.keys`; the features' own ``commands`` modules (clients, organisations, audit,
documents with storage). :mod:`hub.cli.main` parses and dispatches, :mod:`hub.cli.running` runs a
command and turns its failures into exit statuses, and :mod:`hub.cli.console` holds what commands
share.
"""

from hub.cli.main import main

__all__ = ["main"]
