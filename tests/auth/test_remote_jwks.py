"""A trusted issuer's key set, fetched from a real (fake) partner key server over HTTP: a total
deadline, a streamed size limit, single flight per issuer without a lock held during I/O, and a
negative cache (issue 11, "a partner's key server can take the hub down")."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from joserfc.jwk import ECKey

from auth.tokens import JWKS_MAX_BYTES, JWKS_MAX_STALE, InvalidToken, RemoteJwks
from tests.fixtures.partner_idp import PartnerKeyServer


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerKeyServer]:
    key = ECKey.generate_key("P-256", {"kid": "p-1", "alg": "ES256"}, private=True)
    with PartnerKeyServer(key, slow_seconds=3.0, drip_interval=0.05) as server:
        yield server


def _remote(
    partner: PartnerKeyServer, path: str, *, timeout: float = 0.5, failure_ttl: float = 30.0
) -> RemoteJwks:
    client = httpx.Client(timeout=timeout, follow_redirects=False)
    return RemoteJwks(partner.url(path), client=client, timeout=timeout, failure_ttl=failure_ttl)


def test_a_good_key_set_is_fetched_once_and_cached(partner: PartnerKeyServer) -> None:
    remote = _remote(partner, "/good.json")
    before = partner.requests["/good.json"]
    for _ in range(5):
        assert [k.kid for k in remote.keys("p-1")] == ["p-1"]
    assert partner.requests["/good.json"] == before + 1


@pytest.mark.parametrize("path", ["/huge.json", "/huge-declared.json"])
def test_a_huge_answer_is_abandoned_at_the_limit(partner: PartnerKeyServer, path: str) -> None:
    remote = _remote(partner, path, timeout=5.0)
    with pytest.raises(InvalidToken, match="keys cannot be retrieved"):
        remote.keys("p-1")
    # The reader stopped: what the server got out is the limit plus what sockets buffer, not
    # the 300 MB it offered.
    assert partner.wait_quiet(path) < JWKS_MAX_BYTES + 16 * 1024 * 1024


@pytest.mark.parametrize("path", ["/slow.json", "/drip.json"])
def test_a_fetch_has_one_overall_deadline(partner: PartnerKeyServer, path: str) -> None:
    remote = _remote(partner, path, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(InvalidToken):
        remote.keys("p-1")
    assert time.monotonic() - started < 1.0


def test_a_failure_is_remembered_so_a_flood_of_tokens_is_not_a_flood_of_fetches(
    partner: PartnerKeyServer,
) -> None:
    remote = _remote(partner, "/error.json", failure_ttl=0.5)
    before = partner.requests["/error.json"]
    for _ in range(50):
        with pytest.raises(InvalidToken):
            remote.keys("p-1")
    assert partner.requests["/error.json"] == before + 1
    time.sleep(0.6)
    with pytest.raises(InvalidToken):
        remote.keys("p-1")
    assert partner.requests["/error.json"] == before + 2


def test_concurrent_requests_share_one_fetch_and_other_issuers_never_wait(
    partner: PartnerKeyServer,
) -> None:
    slow = _remote(partner, "/slow.json", timeout=1.0)
    good = _remote(partner, "/good.json")
    before = partner.requests["/slow.json"]
    failures: list[float] = []

    def use_slow() -> None:
        started = time.monotonic()
        try:
            slow.keys("p-1")
        except InvalidToken:
            failures.append(time.monotonic() - started)

    threads = [threading.Thread(target=use_slow) for _ in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    good.keys("p-1")  # another issuer: not behind the slow one's fetch
    assert time.monotonic() - started < 0.5
    for thread in threads:
        thread.join()
    assert len(failures) == 20
    assert max(failures) < 1.5
    assert partner.requests["/slow.json"] == before + 1


def test_the_last_good_keys_still_verify_while_a_refresh_fails() -> None:
    key = ECKey.generate_key("P-256", {"kid": "p-1", "alg": "ES256"}, private=True)
    now = [0.0]
    with PartnerKeyServer(key) as server:
        remote = RemoteJwks(
            server.url("/good.json"),
            # No kept-alive connection: the server's end of it would outlive its shutdown.
            client=httpx.Client(timeout=1.0, limits=httpx.Limits(max_keepalive_connections=0)),
            timeout=1.0,
            monotonic=lambda: now[0],
        )
        assert remote.keys("p-1")
    # The server is gone; the keys go stale, the refresh fails, and a known kid still verifies,
    # for an hour after the last good fetch; an unknown kid never.
    now[0] = 1_000.0
    assert [k.kid for k in remote.keys("p-1")] == ["p-1"]
    with pytest.raises(InvalidToken):
        remote.keys("p-2")
    now[0] = JWKS_MAX_STALE + 1.0
    with pytest.raises(InvalidToken):
        remote.keys("p-1")
