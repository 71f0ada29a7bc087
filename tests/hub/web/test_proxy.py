"""The client's address behind trusted proxies: the forwarding headers' parsers and the walk.

The middleware is called as the server calls it, with an ASGI scope, and the scope the app
then sees is checked. ``tests/test_proxy_deployment.py`` runs a real Caddy in front of a
real hub.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from hub.config.network import ForwardedHeader, ProxyNetwork
from hub.web.proxy import ForwardedFor, forwarded_elements

PROXY = "10.0.0.2"
TRUSTED: tuple[ProxyNetwork, ...] = (ipaddress.ip_network("10.0.0.0/29"),)


def _seen(
    headers: list[tuple[str, str]],
    *,
    peer: str | None = PROXY,
    header: ForwardedHeader = "x-forwarded-for",
    trusted: tuple[ProxyNetwork, ...] = TRUSTED,
    kind: str = "http",
) -> Scope:
    """The scope the app behind the middleware receives for a request with ``headers``."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        del message

    scope: Scope = {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "client": (peer, 50123) if peer is not None else None,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }
    asyncio.run(ForwardedFor(app, trusted=trusted, header=header)(scope, receive, send))
    return seen


def _client(headers: list[tuple[str, str]], **options: Any) -> tuple[str, int]:
    client: tuple[str, int] = _seen(headers, **options)["client"]
    return client


# -- X-Forwarded-For ---------------------------------------------------------------------------


def test_the_address_the_trusted_proxy_appended_is_the_client() -> None:
    assert _client([("X-Forwarded-For", "192.0.2.7")]) == ("192.0.2.7", 0)


def test_what_the_client_wrote_before_the_proxy_is_ignored() -> None:
    # nginx's $proxy_add_x_forwarded_for appends to what the client sent.
    assert _client([("X-Forwarded-For", "6.6.6.6, 192.0.2.7")]) == ("192.0.2.7", 0)
    assert _client([("X-Forwarded-For", "garbage, [::1, 192.0.2.7")]) == ("192.0.2.7", 0)


def test_trusted_proxies_in_the_chain_are_walked_past() -> None:
    header = ("X-Forwarded-For", "6.6.6.6, 192.0.2.7, 10.0.0.3,10.0.0.4")
    assert _client([header]) == ("192.0.2.7", 0)


def test_header_lines_are_one_list_in_order() -> None:
    headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "192.0.2.7, 10.0.0.3")]
    assert _client(headers) == ("192.0.2.7", 0)


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert _client([("X-Forwarded-For", "10.0.0.5, 10.0.0.3")]) == ("10.0.0.5", 0)


@pytest.mark.parametrize(
    ("entry", "client"),
    [
        (" \t192.0.2.7\t ", ("192.0.2.7", 0)),
        ("192.0.2.7:4711", ("192.0.2.7", 4711)),
        ("2001:DB8::0:1", ("2001:db8::1", 0)),
        ("[2001:db8::1]", ("2001:db8::1", 0)),
        ("[2001:db8::1]:443", ("2001:db8::1", 443)),
        ("::ffff:192.0.2.7", ("192.0.2.7", 0)),
        ("unknown", ("unknown", 0)),
    ],
)
def test_address_forms(entry: str, client: tuple[str, int]) -> None:
    assert _client([("X-Forwarded-For", entry)]) == client


@pytest.mark.parametrize(
    "value",
    [
        "not-an-address",
        "192.0.2.7,",
        "192.0.2.7, ",
        "",
        "192.0.2.256",
        "2001:db8::1::2",
        "[::ffff:192.0.2.7]",
        "[192.0.2.7]",
        "192.0.2.7:port",
        "_hidden",
        "192.0.2.7\x00",
        "\xe9\xe9",
    ],
)
def test_a_malformed_nearest_entry_keeps_the_peer(value: str) -> None:
    assert _client([("X-Forwarded-For", value)]) == (PROXY, 50123)


def test_the_header_of_an_untrusted_peer_is_ignored() -> None:
    headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https")]
    seen = _seen(headers, peer="192.0.2.99")
    assert seen["client"] == ("192.0.2.99", 50123)
    assert seen["scheme"] == "http"


def test_nothing_is_trusted_without_the_setting() -> None:
    assert _client([("X-Forwarded-For", "6.6.6.6")], trusted=()) == (PROXY, 50123)


@pytest.mark.parametrize("peer", ["::ffff:10.0.0.2", "testclient", None])
def test_the_peer_is_compared_as_an_address(peer: str | None) -> None:
    seen = _seen([("X-Forwarded-For", "192.0.2.7")], peer=peer)
    expected = ("192.0.2.7", 0) if peer == "::ffff:10.0.0.2" else (peer and (peer, 50123))
    assert seen["client"] == expected


def test_forwarded_is_ignored_when_the_proxies_set_x_forwarded_for() -> None:
    # Caddy and nginx set X-Forwarded-For and pass a client's Forwarded through untouched.
    headers = [("Forwarded", "for=6.6.6.6"), ("X-Forwarded-For", "192.0.2.7")]
    assert _client(headers) == ("192.0.2.7", 0)
    assert _client([("Forwarded", "for=6.6.6.6")]) == (PROXY, 50123)


@pytest.mark.parametrize(
    ("values", "scheme"),
    [
        (["https"], "https"),
        ([" HTTPS "], "https"),
        (["http"], "http"),
        (["https, http"], "http"),
        (["https", "https"], "http"),
        (["gopher"], "http"),
    ],
)
def test_the_scheme_comes_from_one_x_forwarded_proto(values: list[str], scheme: str) -> None:
    headers = [("X-Forwarded-Proto", value) for value in values]
    assert _seen(headers)["scheme"] == scheme


def test_a_websocket_behind_tls_is_wss() -> None:
    seen = _seen([("X-Forwarded-Proto", "https")], kind="websocket")
    assert seen["scheme"] == "wss"


def test_lifespan_scopes_pass_untouched() -> None:
    seen = _seen([], kind="lifespan")
    assert seen["type"] == "lifespan"


# -- Forwarded (RFC 7239) ------------------------------------------------------------------------


def _forwarded(*values: str) -> tuple[str, int]:
    return _client([("Forwarded", v) for v in values], header="forwarded")


@pytest.mark.parametrize(
    ("value", "client"),
    [
        # RFC 7239's own examples.
        ('for="_gazonk"', ("_gazonk", 0)),
        ('For="[2001:db8:cafe::17]:4711"', ("2001:db8:cafe::17", 4711)),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ("192.0.2.60", 0)),
        ("for=192.0.2.43, for=198.51.100.17", ("198.51.100.17", 0)),
        ("for=unknown", ("unknown", 0)),
        ("for=UNKNOWN", ("unknown", 0)),
        ('for="192.0.2.43:_port"', ("192.0.2.43", 0)),
        ('for="_hidden:4711"', ("_hidden", 0)),
        ("for=192.0.2.7 ; proto=https ,  for=10.0.0.3", ("192.0.2.7", 0)),
        ('for="\\192.0.2.7"', ("192.0.2.7", 0)),
        ("proto=https", ("unknown", 0)),
        (",,for=192.0.2.7,,", ("192.0.2.7", 0)),
    ],
)
def test_forwarded_nodes(value: str, client: tuple[str, int]) -> None:
    assert _forwarded(value) == client


@pytest.mark.parametrize(
    "value",
    [
        "for=2001:db8::1",  # an IPv6 node must be bracketed, and so quoted
        "for=[2001:db8::1]",
        'for="[192.0.2.7]"',
        'for="2001:db8::1"',
        "for=192.0.2.7;for=192.0.2.8",  # a parameter twice in one element
        'for="192.0.2.7',  # an unterminated quoted string
        "for=192.0.2.7 for=192.0.2.8",
        "for",
        "=192.0.2.7",
        "for=",
        'for="192.0.2.7:99999999"',
        "for=\xe9",
        "for=_" + "x" * 65,
    ],
)
def test_a_malformed_forwarded_keeps_the_peer(value: str) -> None:
    assert _forwarded(value) == (PROXY, 50123)


def test_a_client_line_that_does_not_parse_cannot_hide_the_proxys_own_line() -> None:
    assert _forwarded('for="6.6.6.6', "for=192.0.2.7") == ("192.0.2.7", 0)


def test_the_proto_of_the_clients_element_is_the_scheme() -> None:
    seen = _seen(
        [("Forwarded", "for=192.0.2.7;proto=https, for=10.0.0.3;proto=http")],
        header="forwarded",
    )
    assert seen["client"] == ("192.0.2.7", 0)
    assert seen["scheme"] == "https"


def test_x_forwarded_for_is_ignored_when_the_proxies_set_forwarded() -> None:
    headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https")]
    seen = _seen(headers, header="forwarded")
    assert seen["client"] == (PROXY, 50123)
    assert seen["scheme"] == "http"


def test_forwarded_elements_unquote_and_lower_case_names() -> None:
    assert forwarded_elements('For="a\\"b";BY=x, ;proto=https') == [
        {"for": 'a"b', "by": "x"},
        {"proto": "https"},
    ]


# -- properties --------------------------------------------------------------------------------

_CLIENTS = st.ip_addresses(v=4, network="192.0.2.0/24") | st.ip_addresses(
    v=6, network="2001:db8::/32"
)


@given(garbage=st.text(), client=_CLIENTS)
def test_nothing_a_client_prepends_to_x_forwarded_for_changes_the_result(
    garbage: str, client: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> None:
    value = f"{garbage}, {client}".encode("utf-8", "replace").decode("latin-1")
    assert _client([("X-Forwarded-For", value)]) == (str(client), 0)


@given(garbage=st.text(), client=_CLIENTS)
def test_what_a_client_prepends_to_forwarded_never_becomes_the_address(
    garbage: str, client: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> None:
    # A proxy that appends its element to the client's line: either that element is read, or
    # (when the client's part spoils the line) the peer is kept; never an address of its own.
    node = f'"[{client}]"' if client.version == 6 else str(client)
    value = f"{garbage}, for={node}".encode("utf-8", "replace").decode("latin-1")
    assert _forwarded(value) in {(str(client), 0), (PROXY, 50123)}


@given(st.lists(st.text(), max_size=4), st.sampled_from(["x-forwarded-for", "forwarded"]))
def test_any_header_is_served_with_an_address_or_a_named_node(
    values: list[str], header: ForwardedHeader
) -> None:
    name = "Forwarded" if header == "forwarded" else "X-Forwarded-For"
    lines = [(name, v.encode("utf-8", "replace").decode("latin-1")) for v in values]
    host, port = _client(lines, header=header)
    assert 0 <= port <= 65535
    if host != "unknown" and not host.startswith("_"):
        ipaddress.ip_address(host)
