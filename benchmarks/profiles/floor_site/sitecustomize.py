"""Counts the SQL statements of the hub process, for ``benchmarks/profiles/floor_driver.py``.

On the hub's ``PYTHONPATH`` only when the driver runs with ``--count-sql``: every statement
(SQLAlchemy ``before_cursor_execute``, by its first 90 characters), commit, rollback, pool
ping and ``BEGIN`` is counted, and SIGUSR1 writes the counts to ``$FLOOR_COUNT_FILE`` as JSON.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

_PATH = os.environ.get("FLOOR_COUNT_FILE")
if _PATH:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _lock = threading.Lock()
    _counts: collections.Counter[str] = collections.Counter()

    def _add(key: str) -> None:
        with _lock:
            _counts[key] += 1

    def _count(*args: Any) -> None:
        _add(" ".join(str(args[2]).split())[:90])  # (conn, cursor, statement, ...)

    def _dump(*_args: object) -> None:
        with _lock:
            data = dict(_counts)
        target = Path(str(_PATH))
        scratch = target.with_suffix(".tmp")
        scratch.write_text(json.dumps(data))
        scratch.replace(target)

    from sqlalchemy.dialects.postgresql import _psycopg_common

    _ping = _psycopg_common._PGDialect_common_psycopg.do_ping

    def _counted_ping(self: Any, connection: Any) -> bool:
        _add("<PING>")
        return bool(_ping(self, connection))  # type: ignore[no-untyped-call]

    _psycopg_common._PGDialect_common_psycopg.do_ping = _counted_ping  # type: ignore[method-assign]
    event.listen(Engine, "before_cursor_execute", _count)
    event.listen(Engine, "begin", lambda *_: _add("<BEGIN>"))
    event.listen(Engine, "commit", lambda *_: _add("<COMMIT>"))
    event.listen(Engine, "rollback", lambda *_: _add("<ROLLBACK>"))
    signal.signal(signal.SIGUSR1, _dump)
