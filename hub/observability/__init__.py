"""Observability: metrics, logs and traces of a running hub.

- :mod:`hub.observability.tracing`: one trace context per request, made once, early, by the
  middleware; with OpenTelemetry (the standard ``OTEL_*`` variables) it is a server span. The
  audit trail's ``trace_id``/``span_id``, the access log, the JSON log lines and exported spans
  all carry the same ids.
- :mod:`hub.observability.middleware`: the pure ASGI middleware that times, counts and logs
  every request, streamed bodies included, without buffering them.
- :mod:`hub.observability.metrics`: the Prometheus metrics (``ketenhub_*``) and their registry.
- :mod:`hub.health.metrics` and :mod:`hub.observability.listener`: ``GET /metrics``
  for a token with ``metrics:read``, and on a separate address without one.
- :mod:`hub.observability.logs`: text or JSON log lines (``KETENHUB_LOG_FORMAT``) for the hub's
  and uvicorn's loggers alike.

See ``docs/decisions/0011-observability.md`` for what was chosen and why.
"""
