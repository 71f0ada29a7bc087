"""One authenticated HTTP connection to a hub: tokens, retries and errors, for every call.

:class:`Session` wraps an :class:`httpx.Client` (HTTP/1.1, timeouts, no redirects: a hub that
moved must be configured anew, and a redirect must not carry the token elsewhere). Each request:

- carries ``Authorization: Bearer`` with a cached token (:mod:`.credentials`); a 401 drops the
  token and the request is sent once more with a fresh one;
- is retried with exponential backoff (0.5 s doubling, at most 8 s, with jitter; ``Retry-After``
  honoured) on a connection error, a timeout, 429, 502, 503 or 504, but only when repeating it
  is safe: GET, HEAD, PUT, DELETE, OPTIONS, a request with an ``Idempotency-Key``, or one whose
  connection never opened;
- ends in the result, or in a :mod:`.errors` exception: :class:`~.errors.HubRefused` for a 4xx
  (the problem document surfaced), :class:`~.errors.HubUnavailable` once the retries are spent.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import httpx

from ketenhub_client._version import __version__
from ketenhub_client.credentials import CLIENT_ASSERTION_TYPE, ClientKey, Token, TokenCache
from ketenhub_client.errors import (
    AuthenticationFailed,
    HubRefused,
    HubUnavailable,
    NotFound,
)

RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
METADATA_PATH: Final = "/.well-known/oauth-authorization-server"
USER_AGENT: Final = f"ketenhub-client/{__version__}"


def refusal(response: httpx.Response, *, method: str, path: str) -> HubRefused:
    """The exception for a 4xx ``response``, its problem document (or OAuth error) attached."""
    problem: dict[str, Any] | None = None
    if "json" in response.headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            loaded = response.json()
            problem = loaded if isinstance(loaded, dict) else None
    kind = NotFound if response.status_code == 404 else HubRefused
    return kind(response.status_code, problem, method=method, path=path)


def _unavailable(response: httpx.Response, *, method: str, path: str) -> HubUnavailable:
    detail = ""
    if "json" in response.headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            loaded = response.json()
            if isinstance(loaded, dict):
                detail = str(loaded.get("detail") or loaded.get("title") or "")
    return HubUnavailable(
        f"{method} {path}: the hub answered {response.status_code}"
        + (f": {detail}" if detail else "")
    )


class Session:
    """Authenticated requests to one hub as one client (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        key: ClientKey,
        *,
        scope: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._key = key
        self._scope = scope
        self.retries = retries
        self._clock = clock
        self._sleep = sleep
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self._metadata: dict[str, Any] | None = None
        self.tokens = TokenCache(self._fetch_token, clock=clock)

    def close(self) -> None:
        self.http.close()

    # -- OAuth ---------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The hub's authorization server metadata (RFC 8414), fetched once. Its ``issuer`` must
        be the hub's base URL (RFC 8414 §3.3): otherwise this client talks to a hub that claims
        to be another, and its assertions would be addressed to that other one."""
        if self._metadata is None:
            response = self.send("GET", METADATA_PATH, authenticated=False)
            if response.status_code != 200:
                raise refusal(response, method="GET", path=METADATA_PATH)
            loaded = response.json()
            issuer = loaded.get("issuer") if isinstance(loaded, dict) else None
            if not isinstance(issuer, str) or issuer.rstrip("/") != self.base_url:
                raise HubUnavailable(
                    f"the hub at {self.base_url} says its issuer is {issuer!r}; configure the "
                    "hub URL as its issuer identifier"
                )
            if not isinstance(loaded.get("token_endpoint"), str):
                raise HubUnavailable(f"the hub at {self.base_url} names no token endpoint")
            self._metadata = loaded
        return self._metadata

    def _fetch_token(self) -> Token:
        metadata = self.metadata()
        endpoint = str(metadata["token_endpoint"])
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            # A fresh assertion per attempt: the hub accepts each jti once.
        }
        if self._scope:
            form["scope"] = self._scope
        path = endpoint.removeprefix(self.base_url)

        def attempt() -> httpx.Response:
            assertion = self._key.assertion(
                client_id=self.client_id, audience=str(metadata["issuer"]), now=self._clock()
            )
            return self.http.post(path, data={**form, "client_assertion": assertion})

        response = self._retrying("POST", path, attempt, repeatable=True)
        if response.status_code != 200:
            error = refusal(response, method="POST", path=path)
            raise AuthenticationFailed(
                response.status_code, error.problem, method="POST", path=path
            )
        body = response.json()
        value = body.get("access_token")
        if not isinstance(value, str):
            raise HubUnavailable("the token endpoint answered without an access_token")
        lifetime = body.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) else 300.0
        return Token(value, self._clock() + lifetime, str(body.get("scope", "")))

    # -- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request, read its whole answer, and return it if its status is in ``expect``.
        For small bodies (JSON); content goes through :meth:`stream`."""
        response = self.send(method, path, headers=headers, **kwargs)
        if response.status_code in expect:
            return response
        raise self.error(response, method=method, path=path)

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """An answer whose body is read as it arrives (``iter_bytes``). Statuses are the
        caller's to judge; the connection is retried only until the answer's head arrives."""
        response = self.send(method, path, headers=headers, stream=True)
        try:
            yield response
        finally:
            response.close()

    def error(self, response: httpx.Response, *, method: str, path: str) -> Exception:
        """The exception for an answer that was not expected."""
        if response.is_stream_consumed is False:
            with contextlib.suppress(httpx.HTTPError):
                response.read()
        if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
            return _unavailable(response, method=method, path=path)
        return refusal(response, method=method, path=path)

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        stream: bool = False,
        body: Callable[[], Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request with the token, the retries and the one renewal after a 401; the
        answer whatever its status. ``body``, if given, builds the request's content afresh
        for every attempt (a generator or a file cannot be sent twice)."""
        all_headers = dict(headers or {})
        repeatable = method in SAFE_METHODS or any(
            k.lower() == "idempotency-key" for k in all_headers
        )
        renewed = False
        while True:
            token = self.tokens.get() if authenticated else None
            if token is not None:
                all_headers["Authorization"] = f"Bearer {token}"

            def attempt(headers: dict[str, str] = all_headers) -> httpx.Response:
                # ``body`` builds the content afresh for each attempt (a file reopened at 0).
                fresh = {**kwargs, **(body() if body is not None else {})}
                request = self.http.build_request(method, path, headers=headers, **fresh)
                return self.http.send(request, stream=stream)

            response = self._retrying(method, path, attempt, repeatable=repeatable)
            if response.status_code == 401 and token is not None and not renewed:
                # Revoked, expired early, or the hub's keys rotated: one fresh token, once.
                response.close()
                self.tokens.drop(token)
                renewed = True
                continue
            return response

    def _retrying(
        self, method: str, path: str, attempt: Callable[[], httpx.Response], *, repeatable: bool
    ) -> httpx.Response:
        for number in range(self.retries + 1):
            last = number == self.retries
            try:
                response = attempt()
            except httpx.ConnectError as exc:
                # The request never left: repeating it is safe whatever it was.
                if last:
                    raise HubUnavailable(
                        f"{method} {path}: cannot connect to the hub: {exc}"
                    ) from exc
                self._sleep(self._backoff(number, None))
                continue
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if last or not repeatable:
                    raise HubUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                self._sleep(self._backoff(number, None))
                continue
            if response.status_code in RETRY_STATUSES and repeatable and not last:
                retry_after = response.headers.get("retry-after")
                response.close()
                self._sleep(self._backoff(number, retry_after))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _backoff(number: int, retry_after: str | None) -> float:
        if retry_after is not None and retry_after.isdigit():
            return min(float(retry_after), 60.0)
        # Full jitter, so clients cut off together do not come back together.
        return random.uniform(0, min(8.0, 0.5 * 2**number))  # noqa: S311 - not a secret
