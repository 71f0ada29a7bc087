"""Hosts and addresses in settings: listen addresses, loopback, and the trusted proxies.

Which host counts as "this machine" decides what production accepts in plain text
(:mod:`hub.config.insecure`), so it is answered here once.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
"""The header a trusted proxy sets (:mod:`hub.web.proxy` reads it)."""


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A host (name or IP literal) and a TCP port to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen_address(name: str, value: str) -> ListenAddress:
    """``HOST:PORT`` (``[IPv6]:PORT`` for an IPv6 literal), as in ``127.0.0.1:9464``."""
    problem = ValueError(f"{name} must be HOST:PORT, such as 127.0.0.1:9464 or [::1]:9464")
    try:
        parts = urlsplit(f"//{value}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise problem from None
    if parts.netloc != value or parts.username is not None or not host or port is None:
        raise problem  # a path, query, credentials or a missing part
    if not 0 < port < 65536 or not (_HOSTNAME.fullmatch(host) or _is_ip(host)):
        raise problem
    return ListenAddress(host, port)


_HOSTNAME: Final = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str | None) -> bool:
    """Whether a connection to ``host`` stays on this machine."""
    if not host:
        # A Unix socket (no host) never leaves the machine.
        return True
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_proxy_networks(value: object) -> object:
    """``KETENHUB_TRUSTED_PROXIES``'s entries as networks; anything but a collection is left
    for pydantic to report as the wrong type."""
    if not isinstance(value, list | tuple | set | frozenset):
        return value
    networks: list[ProxyNetwork] = []
    for entry in value:
        try:
            networks.append(
                entry
                if isinstance(entry, ProxyNetwork)
                else ipaddress.ip_network(str(entry).strip())
            )
        except ValueError as exc:
            # Strict: 10.0.0.7/24 is refused ("has host bits set"), since it may mean the
            # host or the network.
            raise ValueError(
                f"KETENHUB_TRUSTED_PROXIES: {exc}; give addresses (10.0.0.5) or networks "
                "(10.0.0.0/24)"
            ) from None
    return tuple(networks)
