"""What ``ketenhub serve`` checks of the observability settings before it starts serving.

The lifespan would find the same problems, but uvicorn reports a failed start-up as a
traceback; checked here first, each is one line naming the variable, with exit status 2.
"""

from __future__ import annotations

import os
from typing import Final

from hub.cli.console import CommandError
from hub.config import Settings
from hub.observability.listener import ListenError, MetricsListener
from hub.observability.metrics import HubMetrics
from hub.observability.tracing import TracingConfig, TracingConfigError

_ANY_ADDRESS: Final = frozenset({"0.0.0.0", "::"})  # noqa: S104 - names, not a bind


def check_serving(settings: Settings, *, host: str, port: int) -> None:
    """Raise :class:`CommandError` for ``OTEL_*`` variables the hub cannot honour, or a
    metrics address that clashes with ``host:port`` or cannot be listened on."""
    try:
        TracingConfig.from_environment(os.environ)
    except TracingConfigError as exc:
        raise CommandError(f"invalid configuration: {exc}", status=2) from None
    metrics = settings.resolved_metrics_address
    if metrics is None:
        return
    if metrics.port == port and (metrics.host == host or {metrics.host, host} & _ANY_ADDRESS):
        raise CommandError(
            f"KETENHUB_METRICS_ADDRESS {metrics} is the address the API is served on; "
            "give the metrics a port of their own",
            status=2,
        )
    try:
        # Bound and released again: the lifespan binds it for real a moment later.
        MetricsListener(metrics, HubMetrics()).stop_unstarted()
    except ListenError as exc:
        raise CommandError(str(exc), status=2) from None
