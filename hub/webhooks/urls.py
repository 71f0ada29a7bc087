"""Which webhook URLs the hub sends to, checked at subscription and again at each delivery.

At subscription (:func:`check_url`): an absolute ``https`` URL (``http`` too in demo mode) of
at most 2,048 characters, with a host, without user or password (they would sit in the table
and the logs) and without a fragment. Outside demo an IP literal that is not a public address
is refused at once.

At delivery (:func:`resolve`): the host is resolved, and outside demo every address must be a
public one (not loopback, private, link-local, shared, multicast, reserved or unspecified), so a
subscription cannot make the hub call services on its own network (SSRF), whatever a partner's
DNS answers later. The connection then goes to the address that was checked (the URL's host is
kept for ``Host`` and TLS SNI and certificate checks), so a second DNS answer cannot swap it
(DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit, urlunsplit

MAX_URL: Final = 2048


class UrlRefused(ValueError):
    """The URL may not be used; the message says why (it is shown to the partner)."""


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        raise UrlRefused("url: not a valid URL") from None
    return parts


def check_url(url: str, *, demo: bool) -> str:
    """``url`` if a subscription may use it; :class:`UrlRefused` saying why otherwise."""
    if len(url) > MAX_URL:
        raise UrlRefused(f"url: at most {MAX_URL} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRefused("url: may not hold spaces or control characters")
    parts = _parts(url)
    schemes = ("https", "http") if demo else ("https",)
    if parts.scheme not in schemes:
        raise UrlRefused("url: must be https" + (" or http (demo mode)" if demo else ""))
    if not parts.hostname:
        raise UrlRefused("url: must name a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("url: may not hold a user name or password")
    if parts.fragment:
        raise UrlRefused("url: may not have a fragment")
    if not demo:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            literal = None
        if literal is not None and not _public(literal):
            raise UrlRefused("url: the address is not a public one")
    return url


@dataclass(frozen=True, slots=True)
class Target:
    """Where one delivery connects: ``url`` with the checked address in place of the host,
    and the original ``host`` (``Host`` header, TLS SNI and certificate name)."""

    url: str
    host_header: str
    server_name: str


def resolve(url: str, *, demo: bool, port_default: int | None = None) -> Target:
    """Resolve ``url``'s host and pin the connection to a checked address;
    :class:`UrlRefused` when a resolved address is not public (outside demo) or none is found."""
    parts = _parts(url)
    host = parts.hostname or ""
    port = parts.port or port_default or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRefused("the host does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
    if not addresses:
        raise UrlRefused("the host does not resolve")
    if not demo and not all(_public(a) for a in addresses):
        raise UrlRefused("the host resolves to an address that is not a public one")
    first = addresses[0]
    literal = f"[{first}]" if first.version == 6 else str(first)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(pinned, parts.netloc, host)
