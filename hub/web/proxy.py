"""The client's address behind reverse proxies (``KETENHUB_TRUSTED_PROXIES``).

Behind a TLS-terminating proxy every connection comes from the proxy, so the TCP peer is the
proxy's address, and the audit trail would record it as the source of every request. The
proxy says who its client was in a forwarding header; anyone else can send the same header,
so it is believed only from a peer the operator names as a proxy.

:class:`ForwardedFor` is a plain ASGI middleware, outside every other, that rewrites
``scope["client"]`` (and ``scope["scheme"]``) in place, so that ``request.client.host``, the
audit trail's ``source_address`` and the access log all see the client. Only when the TCP peer
is in the trusted set is the header read, and then from the right: each proxy appends the
address it received the request from, so the rightmost entries were written by trusted
proxies and everything to the left of the first untrusted address was written by the client,
who may have written anything. That first untrusted address is the client. Entries to its left
are never parsed, so a client's malformed or forged entries change nothing.

Exactly one header is read, the one the proxies set (``KETENHUB_FORWARDED_HEADER``):

- ``X-Forwarded-For: client, proxy1, proxy2`` (what Caddy and nginx set), entries being an IPv4
  or IPv6 address, optionally ``[v6]``, ``[v6]:port`` or ``v4:port``; with
  ``X-Forwarded-Proto: https`` (a single value) for the scheme;
- RFC 7239 ``Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"``, with quoted
  strings, ``unknown`` and obfuscated identifiers (``for=_hidden``); ``proto`` is taken from
  the element that names the client.

The other header is the client's to forge (a proxy that sets one passes the other through
untouched), so reading both, or whichever is present, would let a client choose its address.

Where the walk reaches an entry that is not a well-formed address, the peer's address is kept:
the request is served, and the trail records the proxy, as it would without this setting.
``unknown`` or an obfuscated identifier there is the proxy saying it will not tell: that is
recorded as given (``unknown``, ``_hidden``). When every entry is a trusted address, the
leftmost is the client.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config.network import Address, ForwardedHeader, ProxyNetwork

_SCHEMES: Final = {
    "http": {"http": "http", "https": "https"},
    "websocket": {"http": "ws", "https": "wss"},
}
_TCHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED: Final = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_PAIR: Final = re.compile(rf"({_TCHARS})=({_TCHARS}|{_QUOTED})")
_V4_WITH_PORT: Final = re.compile(r"([0-9.]{7,15}):([0-9]{1,5})")
_OBFUSCATED: Final = r"_[A-Za-z0-9._-]{1,64}"
_FORWARDED_NODE: Final = re.compile(
    rf"(?P<name>\[[0-9A-Fa-f:.]+\]|[0-9.]{{7,15}}|[Uu][Nn][Kk][Nn][Oo][Ww][Nn]|{_OBFUSCATED})"
    rf"(?::(?P<port>[0-9]{{1,5}}|{_OBFUSCATED}))?"
)
_V6_BRACKETED: Final = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?")


@dataclass(frozen=True, slots=True)
class Hop:
    """One entry of a forwarding header: who a proxy received the request from.

    ``address`` is set for an IP address; otherwise ``node`` is what the proxy wrote in its
    place (``unknown`` or an obfuscated ``_identifier``). ``port`` is 0 when not given.
    """

    node: str
    address: Address | None = None
    port: int = 0
    proto: str | None = None


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; it is a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _hop(address: Address, port: str | None = None, proto: str | None = None) -> Hop:
    number = int(port) if port else 0
    return Hop(str(address), address, number if number <= 65535 else 0, proto)


# -- X-Forwarded-For ---------------------------------------------------------------------------


def _x_forwarded_entry(entry: str) -> Hop | None:
    """``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]``, ``[…]:80``, or
    ``unknown`` (a proxy that will not tell)."""
    entry = entry.strip(" \t")
    if (address := _address(entry)) is not None:
        return _hop(address)
    if entry.lower() == "unknown":
        return Hop("unknown")
    if match := _V6_BRACKETED.fullmatch(entry):
        version = 6
    elif match := _V4_WITH_PORT.fullmatch(entry):
        version = 4
    else:
        return None
    address = _address(match[1])
    return _hop(address, match[2]) if address and address.version == version else None


def x_forwarded_hops(values: Iterable[str]) -> Iterator[Hop | None]:
    """The entries of ``X-Forwarded-For`` header lines, from the right (the nearest proxy's)
    to the left; ``None`` for an entry that is not an address. Lazy: what is to the left of
    where the caller stops is never parsed."""
    for value in reversed(list(values)):
        for entry in reversed(value.split(",")):
            yield _x_forwarded_entry(entry)


def x_forwarded_proto(values: Sequence[str]) -> str | None:
    """The scheme from ``X-Forwarded-Proto``, only when it is one value, ``http`` or ``https``."""
    if len(values) != 1:
        return None
    proto = values[0].strip(" \t").lower()
    return proto if proto in ("http", "https") else None


# -- Forwarded (RFC 7239) ------------------------------------------------------------------------


def forwarded_elements(header: str) -> list[dict[str, str]] | None:
    """The elements of a ``Forwarded`` header value, each a dict of its parameters
    (names lower-cased, quoted strings unquoted); ``None`` when the value is malformed, or an
    element names a parameter twice.

    ``Forwarded = 1#( [pair] *( ";" [pair] ) )``, ``pair = token "=" ( token / quoted-string )``.
    """
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position, end = _skip_ows(header, 0), len(header)
    while position < end:
        separator = header[position]
        if separator not in ",;":
            pair = _PAIR.match(header, position)
            if pair is None:
                return None
            name, value = pair[1].lower(), pair[2]
            if name in element:
                return None
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            element[name] = value
            position = _skip_ows(header, pair.end())
            if position == end:
                break
            separator = header[position]
            if separator not in ",;":
                return None
        if separator == "," and element:
            elements.append(element)
            element = {}
        position = _skip_ows(header, position + 1)
    if element:
        elements.append(element)
    return elements


def _skip_ows(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    return position


def _forwarded_node(value: str | None, proto: str | None) -> Hop | None:
    """RFC 7239 section 6: ``node = nodename [ ":" node-port ]``, where ``nodename`` is an
    IPv4 address, a bracketed IPv6 address, ``unknown`` or an obfuscated ``_identifier``."""
    if value is None:
        return Hop("unknown", proto=proto)  # the proxy did not say whom it received it from
    match = _FORWARDED_NODE.fullmatch(value)
    if match is None:
        return None
    name, port = match["name"], match["port"]
    if name.lower() == "unknown" or name.startswith("_"):
        return Hop(name if name.startswith("_") else "unknown", proto=proto)
    address = _address(name.removeprefix("[").removesuffix("]"))
    if address is None or (address.version == 6) != name.startswith("["):
        return None  # brackets hold an IPv6 address, and an IPv6 address needs them
    return _hop(address, port if port and port.isdigit() else None, proto)


def forwarded_hops(values: Iterable[str]) -> Iterator[Hop | None]:
    """The elements of ``Forwarded`` header lines as hops, from the right; one ``None`` (and
    nothing more) when a line is malformed, since its elements cannot be told apart."""
    for value in reversed(list(values)):
        elements = forwarded_elements(value)
        if elements is None:
            yield None
            return
        for element in reversed(elements):
            proto = element.get("proto", "").lower()
            yield _forwarded_node(element.get("for"), proto if proto in ("http", "https") else None)


# -- the walk --------------------------------------------------------------------------------


def client_hop(hops: Iterable[Hop | None], trusted: Sequence[ProxyNetwork]) -> Hop | None:
    """The client among ``hops`` (from the right), as a trusted peer reports it: the first hop
    that is not a trusted address, or the leftmost when all are. ``None``, meaning "keep the
    peer", when there are no hops or the walk reaches a malformed one."""
    last: Hop | None = None
    for hop in hops:
        if hop is None:
            return None
        if hop.address is None or not is_trusted(hop.address, trusted):
            return hop
        last = hop
    return last


def is_trusted(address: Address, trusted: Sequence[ProxyNetwork]) -> bool:
    return any(address in network for network in trusted)


class ForwardedFor:
    """Takes the client's address (and scheme) from the proxies' forwarding header, only when
    the connection comes from a trusted proxy. See the module docstring."""

    def __init__(
        self, app: ASGIApp, *, trusted: Sequence[ProxyNetwork], header: ForwardedHeader
    ) -> None:
        self.app = app
        self.trusted = tuple(trusted)
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in _SCHEMES and self.trusted:
            self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        client = scope.get("client")
        peer = _address(client[0]) if client else None
        if peer is None or not is_trusted(peer, self.trusted):
            return
        headers = scope.get("headers", ())
        if self.header == "forwarded":
            hop = client_hop(forwarded_hops(_values(headers, b"forwarded")), self.trusted)
            proto = hop.proto if hop else None
        else:
            hop = client_hop(x_forwarded_hops(_values(headers, b"x-forwarded-for")), self.trusted)
            proto = x_forwarded_proto(_values(headers, b"x-forwarded-proto"))
        if hop:
            scope["client"] = (hop.node, hop.port)
        if proto is not None:
            scope["scheme"] = _SCHEMES[scope["type"]][proto]


def _values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    # Header values are bytes on the wire; latin-1 maps each to one character, never failing.
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]
