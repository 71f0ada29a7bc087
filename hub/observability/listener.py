"""``GET /metrics`` without a token, on a listen address of its own (``KETENHUB_METRICS_ADDRESS``).

Prometheus is often run without credentials for the hub; the usual answer is a second listen
address that only the monitoring network reaches. This one serves nothing but the exposition:
``GET`` or ``HEAD`` of ``/metrics`` (any query is ignored); other paths answer 404 and other
methods 405, as problem documents. It is plain HTTP, so in production the settings accept only
a loopback address or a host listed in ``KETENHUB_PRIVATE_NETWORK_HOSTS`` (see
``docs/decisions/0011-observability.md``).

It runs in threads of its own (the standard library's threading HTTP server), beside uvicorn's
event loop, so the scrape-time database reads never hold up requests. The app's lifespan starts
it and stops it (:func:`serving_metrics`); with several worker processes the supervisor serves it
instead, summing every worker's counts (:mod:`hub.cli.workers`, decision 0037). Scrapes here are
not counted in the HTTP metrics, which are the API's, and write no access line.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import anyio.to_thread

from hub.config import API_VERSION, ListenAddress
from hub.observability.metrics import HubMetrics

logger = logging.getLogger(__name__)

PATH: Final = "/metrics"
_TIMEOUT: Final = 10.0
"""Seconds a connection may stay idle: a slow client cannot hold a thread for long."""


class ListenError(OSError):
    """The metrics address cannot be listened on (in use, not an address of this host)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: ListenAddress, metrics: HubMetrics) -> None:
        # The address family follows the host: an IPv6 literal needs an AF_INET6 socket.
        infos = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, _, _, _, sockaddr = infos[0]
        self.address_family = family
        self.metrics = metrics
        super().__init__((str(sockaddr[0]), int(sockaddr[1])), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _TIMEOUT
    server_version = "ketenhub"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        if self.path.partition("?")[0] != PATH:
            self._problem(HTTPStatus.NOT_FOUND, "only /metrics is served here", send_body)
            return
        body, content_type = self.server.metrics.exposition(self.headers.get("Accept"))
        self._send(HTTPStatus.OK, content_type, body, send_body=send_body)

    def _refuse_method(self) -> None:
        self._problem(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD", send_body=True)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse_method  # noqa: N815

    def _problem(self, status: HTTPStatus, detail: str, send_body: bool) -> None:  # noqa: FBT001
        document = {
            "type": "about:blank",
            "title": status.phrase,
            "status": status,
            "detail": detail,
        }
        headers = {"Allow": "GET, HEAD"} if status == HTTPStatus.METHOD_NOT_ALLOWED else {}
        self._send(
            status,
            "application/problem+json",
            json.dumps(document).encode(),
            send_body=send_body,
            headers=headers,
        )

    def _send(
        self,
        status: HTTPStatus,
        content_type: str,
        body: bytes,
        *,
        send_body: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("API-Version", API_VERSION)
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        # The standard library writes each request to stderr; scrapes are not worth a line.
        return


class MetricsListener:
    """The exposition of ``metrics`` on ``address``, served by threads of its own."""

    def __init__(self, address: ListenAddress, metrics: HubMetrics) -> None:
        self.address = address
        try:
            self._server = _Server(address, metrics)
        except OSError as exc:
            raise ListenError(
                f"KETENHUB_METRICS_ADDRESS {address}: cannot listen: {exc.strerror or exc}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ketenhub-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        self._thread.start()
        logger.info("metrics served without a token on http://%s%s", self.address, PATH)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def stop_unstarted(self) -> None:
        """Release the address of a listener that was never started."""
        self._server.server_close()


@asynccontextmanager
async def serving_metrics(
    address: ListenAddress | None, metrics: HubMetrics
) -> AsyncIterator[MetricsListener | None]:
    """Serve on ``address`` for as long as the block runs (nothing when it is ``None``)."""
    if address is None:
        yield None
        return
    listener = MetricsListener(address, metrics)
    listener.start()
    try:
        yield listener
    finally:
        # shutdown() waits for the serving loop to notice, up to half a second.
        await anyio.to_thread.run_sync(listener.stop)
