"""Log lines as text or as JSON (``KETENHUB_LOG_FORMAT``), for the hub's loggers and uvicorn's.

``text`` (the default) is what the hub always wrote: ``TIME LEVEL LOGGER: message`` for its own
records, uvicorn's ``INFO:     …`` for the server's, and uvicorn's access line for each request.

``json`` writes one JSON object per line, for every logger alike::

    {"timestamp": "2026-11-29T10:00:00.123456Z", "level": "INFO", "logger": "hub.access",
     "message": "127.0.0.1:50412 - \\"GET /api/v1/documents HTTP/1.1\\" 200",
     "method": "GET", "route": "/api/v1/documents", "path": "/api/v1/documents",
     "status": 200, "duration_ms": 4.211, "bytes_in": 0, "bytes_out": 1234,
     "client": "127.0.0.1:50412", "trace_id": "…", "span_id": "…"}

``timestamp`` is RFC 3339 in UTC; a record written while a request is served carries that
request's ``trace_id`` and ``span_id``: the ones its audit events and its exported span carry.
Request fields appear on access lines only (see :mod:`hub.observability.access_log`); an exception's
traceback is the ``exception`` member. Python warnings become log records too, so that nothing
but JSON reaches the output.

:func:`logging_config` is one ``dictConfig`` for both formats; every command applies it first
(:func:`configure_logging`), and ``serve`` keeps it (uvicorn is told not to configure logging).
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Final

from hub.config import LogFormat, LoggingSettings
from hub.observability.access_log import ACCESS_FIELDS
from hub.observability.tracing import current_trace

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        trace_id, span_id = record.__dict__.get("trace_id"), record.__dict__.get("span_id")
        if trace_id is None and (trace := current_trace()) is not None:
            trace_id, span_id = trace.trace_id, trace.span_id
        if trace_id is not None:
            entry["trace_id"], entry["span_id"] = trace_id, span_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the root logger, uvicorn's and the access log."""
    json_lines = log_format is LogFormat.JSON
    formatters: dict[str, Any] = {
        "json": {"()": f"{__name__}.JsonFormatter"},
        "text": {"format": TEXT_FORMAT},
        "uvicorn": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    }

    def handler(formatter: str, stream: str) -> dict[str, Any]:
        return {
            "class": "logging.StreamHandler",
            "formatter": "json" if json_lines else formatter,
            "stream": f"ext://sys.{stream}",
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        # The streams uvicorn and the hub always used: the access log on stdout, the rest on
        # stderr.
        "handlers": {
            "default": handler("text", "stderr"),
            "uvicorn": handler("uvicorn", "stderr"),
            "access": handler("access", "stdout"),
        },
        "loggers": {
            "uvicorn": {"handlers": ["uvicorn"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Replaced by hub.access, which knows the route, the sizes and the trace.
            "uvicorn.access": {"handlers": [], "propagate": False},
            "hub.access": {"handlers": ["access"], "level": level, "propagate": False},
            # authlib logs tokens and client assertions at DEBUG: never let it.
            "authlib": {"level": max(logging.INFO, logging.getLevelName(level))},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure_logging(settings: LoggingSettings) -> None:
    """Apply :func:`logging_config` for ``settings`` to the whole process."""
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    logging.captureWarnings(settings.log_format is LogFormat.JSON)
