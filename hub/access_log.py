"""The HTTP access log, without query strings.

uvicorn's access log writes each request line whole. A query string can carry what must never
reach a log: a token a client wrongly put in the URL (the hub refuses it, but the line is
written first), or a v-number. Paths are the hub's own identifiers and stay; the query is
replaced by ``?…``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_ARGS = 5  # uvicorn: client address, method, path with query, HTTP version, status


class DropQueryString(logging.Filter):
    """Rewrites uvicorn access records so the path carries no query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == _ARGS and isinstance(args[2], str):
            path, question, _ = args[2].partition("?")
            record.args = (args[0], args[1], path + ("?…" if question else ""), args[3], args[4])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with :class:`DropQueryString` on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["drop_query"] = {"()": f"{__name__}.DropQueryString"}
    config["handlers"]["access"].setdefault("filters", []).append("drop_query")
    return config
