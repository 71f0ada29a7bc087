"""The FastAPI application: ``create_app(settings)``.

The factory wires middleware, error handlers and routers; the lifespan builds the services (see
:mod:`hub.runtime`) and refuses to start against a database whose schema is not at the head
revision, since serving on a half-migrated schema corrupts data quietly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Final

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.apidocs.endpoints import router as apidocs_router
from hub.auditing.endpoints import router as audit_router
from hub.config import API_VERSION, Settings
from hub.core import db
from hub.core.timers import TimerLeases, periodic, this_holder
from hub.documents.endpoints import router as documents_router
from hub.documents.retention import expire_due
from hub.health.endpoints import router as health_router
from hub.health.metrics import router as metrics_router
from hub.idempotency.service import SWEEP_INTERVAL, sweep_expired
from hub.inbox.endpoints import router as inbox_router
from hub.login.account import router as account_router
from hub.login.authorize import router as authorize_router
from hub.login.endpoints import router as login_router
from hub.oauth.endpoints import router as oauth_router
from hub.observability.listener import serving_metrics
from hub.observability.middleware import RequestTelemetry
from hub.observability.tracing import TracingConfig
from hub.organisations.endpoints import router as organisations_router
from hub.pages.admin.clients import router as client_pages_router
from hub.pages.admin.index import router as admin_index_router
from hub.pages.admin.organisations import router as admin_organisations_router
from hub.pages.admin.policy import router as policy_pages_router
from hub.pages.admin.shares import router as admin_share_pages_router
from hub.pages.admin.users import router as admin_users_router
from hub.pages.console.events import router as console_events_router
from hub.pages.console.integrity import router as integrity_pages_router
from hub.pages.console.metadata import router as console_metadata_router
from hub.pages.console.overview import router as overview_page_router
from hub.pages.console.subject_report import router as subject_report_page_router
from hub.pages.documents import router as document_pages_router
from hub.pages.home import router as home_page_router
from hub.pages.shares import router as share_pages_router
from hub.policy.endpoints import router as policy_router
from hub.policy.replicas import ReplicaIdentity, replica_timer
from hub.runtime import Services, activate_policy, build_services, seed_wrap_counts
from hub.shares.endpoints import router as shares_router
from hub.trail.context import system_context
from hub.trail.refusals import refusal_summaries
from hub.trail.timer import checkpoint_timer
from hub.ui.endpoints import router as ui_router
from hub.ui.errors import ErrorPages
from hub.ui.person import LoginRequired, login_redirect
from hub.ui.rendering import PAGE_CSP
from hub.uploads.endpoints import router as uploads_router
from hub.uploads.expiry import expire_uploads
from hub.web.assets import router as assets_router
from hub.web.error_handlers import install_handlers
from hub.web.limits import BodyLimits, Pace, UploadSlots
from hub.web.proxy import ForwardedFor
from hub.web.refusals import RefusalRecording
from hub.webhooks.delivery import deliverer_of, housekeeping
from hub.webhooks.endpoints import router as webhooks_router

logger = logging.getLogger(__name__)

_SECURITY_HEADERS = (
    (b"api-version", API_VERSION.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Answers concern people's files: no shared cache may keep one unless a route says so.
    (b"cache-control", b"no-store"),
)


_CSP = b"content-security-policy"


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        n.lower() == b"content-type" and v.lower().startswith(b"text/html") for n, v in headers
    )


class ResponseHeaders:
    """Adds ``API-Version`` and baseline security headers to every response, streamed or not,
    and the pages' Content-Security-Policy (:data:`hub.ui.rendering.PAGE_CSP`) to every HTML
    answer that sets no policy of its own (the API docs set one with a nonce), so no page, an
    error page included, goes out without it.

    A plain ASGI middleware rather than ``BaseHTTPMiddleware``, which would buffer streamed
    bodies and break constant-memory downloads.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                present = {name.lower() for name, _ in headers}
                extra = [(n, v) for n, v in _SECURITY_HEADERS if n not in present]
                if _CSP not in present and _is_html(headers):
                    extra.append((_CSP, PAGE_CSP.encode("ascii")))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def purge_web_sessions(services: Services) -> int:
    """Delete the web sessions that ended without being met again (every idle period)."""
    with db.transaction(services.engine) as session:
        return services.web_sessions.purge(session, now=datetime.now(UTC))


class SchemaNotCurrentError(RuntimeError):
    """The database schema is not at the revision this code expects."""


def check_schema(services: Services) -> None:
    current, head = db.current_revision(services.engine), db.head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"database schema is at {current or 'nothing'} but this hub needs {head}: "
            "run `ketenhub init` (or `ketenhub migrate`) first"
        )


API_ROUTERS: Final = (
    health_router,
    metrics_router,
    oauth_router,
    organisations_router,
    policy_router,
    documents_router,
    uploads_router,
    shares_router,
    inbox_router,
    webhooks_router,
    audit_router,
    apidocs_router,
    assets_router,
    ui_router,
    login_router,
    authorize_router,
    account_router,
)
"""The API's routers and the web UI's foundation (login, assets), before the pages, in this
order."""

PAGE_ROUTERS: Final = (
    home_page_router,
    document_pages_router,
    share_pages_router,
    admin_index_router,
    admin_organisations_router,
    admin_users_router,
    integrity_pages_router,
    client_pages_router,
    admin_share_pages_router,
    policy_pages_router,
    console_events_router,
    console_metadata_router,
    overview_page_router,
    subject_report_page_router,
)
"""The web UI's pages, after the login's: one router per page module, in this order (a page's
path may shadow a later one's)."""


def quiet_credential_loggers() -> None:
    """authlib logs tokens and client assertions at DEBUG: never let it, whatever the root
    logger's level, so no deployment that debugs the hub writes credentials to its logs."""
    authlib = logging.getLogger("authlib")
    if authlib.getEffectiveLevel() < logging.INFO:
        authlib.setLevel(logging.INFO)


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    workers: int = 1,
    metrics_listener: bool = True,
) -> FastAPI:
    """Build the hub. ``services`` may be passed in by tests; otherwise the lifespan builds them.

    ``workers`` is how many processes serve together (``ketenhub serve --workers``): each takes
    its share of the upload limits. ``metrics_listener`` false leaves the metrics address to
    the process that supervises them (:mod:`hub.cli.serve`), which serves all workers' counts.
    """
    quiet_credential_loggers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = services or build_services(settings)
        tracing_config = TracingConfig.from_environment(os.environ)
        tracing = tracing_config.start() if tracing_config is not None else None
        app.state.tracing = tracing
        try:
            check_schema(built)
            seed_wrap_counts(built)
            policy = activate_policy(built, system_context("start"))
            app.state.services = built
            app.state.token_validator = built.oauth.validator
            logger.info(
                "ketenhub ready: environment=%s kek=%s policy=%s",
                settings.environment.value,
                built.keys.current_kek_id(),
                policy.hash,
            )
            # Jobs with leases run once per interval across every worker and replica; the
            # others concern this process's own state or are safe everywhere (decision 0037).
            leases = TimerLeases(built.engine, this_holder())
            async with (
                serving_metrics(
                    settings.resolved_metrics_address if metrics_listener else None, built.metrics
                ),
                checkpoint_timer(built.audit, settings.audit_checkpoint_interval, leases=leases),
                refusal_summaries(built.audit),
                replica_timer(built, ReplicaIdentity.this_process()),
                periodic(
                    "web-sessions",
                    lambda: purge_web_sessions(built),
                    settings.session_idle,
                    leases=leases,
                ),
                periodic(
                    "retention",
                    lambda: expire_due(built, system_context("retention")),
                    settings.retention_interval,
                    leases=leases,
                ),
                periodic(
                    "upload-expiry",
                    lambda: expire_uploads(built, system_context("upload-expiry")),
                    settings.retention_interval,
                    leases=leases,
                ),
                # Every process polls: each claims its messages with SKIP LOCKED (decision 0033).
                periodic(
                    "webhook deliveries",
                    deliverer_of(built).run_once,
                    settings.webhook_poll_seconds,
                ),
                periodic(
                    "webhook housekeeping",
                    lambda: housekeeping(built.engine),
                    settings.webhook_expiring_interval,
                    leases=leases,
                ),
                periodic(
                    "idempotency-keys",
                    lambda: sweep_expired(built.engine),
                    SWEEP_INTERVAL,
                    leases=leases,
                ),
            ):
                yield
        finally:
            if tracing is not None:
                await anyio.to_thread.run_sync(tracing.shutdown)  # flushes queued spans
            if services is None:
                built.close()

    app = FastAPI(
        title="Ketenhub",
        version=API_VERSION,
        summary="Secure document exchange for the partners of the Dutch immigration chain",
        lifespan=lifespan,
        # FastAPI's pages load from a CDN; the hub serves its own (hub/apidocs).
        docs_url=None,
        redoc_url=None,
    )
    app.state.upload_slots = UploadSlots.shared_by(
        workers, per_caller=settings.uploads_per_client, total=settings.uploads_total
    )
    # Innermost of the hub's middleware: bodies are bounded before any route reads one, and its
    # refusals (ordinary problem answers) pass out through the headers, the telemetry and the
    # access log like every other answer.
    pace = Pace(
        idle_timeout=settings.body_idle_timeout,
        min_rate=settings.body_min_rate,
        grace=settings.body_rate_grace,
    )
    app.add_middleware(BodyLimits, pace=pace)
    app.add_middleware(ResponseHeaders)
    # Outside every layer that can refuse a request, inside the telemetry whose trace its
    # events carry: every 4xx and 5xx no service recorded is recorded here (decision 0020).
    app.add_middleware(RefusalRecording)
    # Telemetry next: every request's trace exists before the application runs.
    app.add_middleware(RequestTelemetry)
    if settings.trusted_proxies:
        # Added last, so outermost: the telemetry, every route and the access log see the
        # client the trusted proxies name instead of the proxy (decision 0014).
        app.add_middleware(
            ForwardedFor, trusted=settings.trusted_proxies, header=settings.forwarded_header
        )
    install_handlers(app, pages=ErrorPages())
    app.add_exception_handler(LoginRequired, login_redirect)
    for router in (*API_ROUTERS, *PAGE_ROUTERS):
        app.include_router(router)
    return app
