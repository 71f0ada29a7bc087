"""The hub's settings, read from ``KETENHUB_*`` environment variables (see the README's
configuration table).

The rest of the hub imports them from here; the modules behind this face are split by concern:

- :mod:`hub.config.settings`: the :class:`Settings` model, its defaults and derived values;
- :mod:`hub.config.connections`: the database URLs and the S3 connection;
- :mod:`hub.config.oauth`: the issuer and the partners' trusted issuers;
- :mod:`hub.config.network`: listen addresses, loopback hosts and trusted proxies;
- :mod:`hub.config.insecure`: what production refuses;
- :mod:`hub.config.secret_files`: ``KETENHUB_<SECRET>_FILE``, secrets read from files;
- :mod:`hub.config.logs`: the logging settings every command reads first;
- :mod:`hub.config.version`: the API's version, which no deployment chooses.
"""

from __future__ import annotations

from hub.config.connections import S3Connection
from hub.config.insecure import InsecureSettingsError
from hub.config.logs import LogFormat, LoggingSettings
from hub.config.network import ListenAddress
from hub.config.oauth import TrustedIssuerSettings
from hub.config.settings import Environment, Settings
from hub.config.version import API_VERSION

__all__ = [
    "API_VERSION",
    "Environment",
    "InsecureSettingsError",
    "ListenAddress",
    "LogFormat",
    "LoggingSettings",
    "S3Connection",
    "Settings",
    "TrustedIssuerSettings",
]
