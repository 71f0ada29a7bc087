"""Where the client's settings come from: a profile, overridden by the environment.

A profile names a hub (its base URL), a client id and the file holding the client's private
JWK (``private_jwk`` of ``demo-credentials.json``, or what ``ketenhub client add`` printed).
Profiles live in ``$XDG_CONFIG_HOME/ketenhub-client/config.toml`` (``~/.config`` by default)::

    [profiles.default]
    hub = "https://hub.example.nl"
    client_id = "iom-case-system"
    key_file = "/etc/iom/ketenhub-key.json"

The file is read with :mod:`tomllib` and written by hand (its values are plain strings, so the
writer escapes them as TOML basic strings). ``KETENHUB_CLIENT_HUB``, ``KETENHUB_CLIENT_ID`` and
``KETENHUB_CLIENT_KEY_FILE`` override a profile's fields one by one.

The key file must be readable by its owner only (``mode & 0o077 == 0``), as ssh demands of a
private key: a key others can read is a key others can use. The check names the ``chmod`` to run.

The client's own state (the last checkpoint it saw of each hub, for :mod:`.receipts`) lives
under ``$XDG_STATE_HOME/ketenhub-client`` (``~/.local/state`` by default): :func:`state_dir`.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from ketenhub_client.errors import ConfigError

ENV_HUB: Final = "KETENHUB_CLIENT_HUB"
ENV_CLIENT_ID: Final = "KETENHUB_CLIENT_ID"
ENV_KEY_FILE: Final = "KETENHUB_CLIENT_KEY_FILE"
DEFAULT_PROFILE: Final = "default"

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Plain HTTP only to this machine (a demo or a tunnel): elsewhere the client assertion and the
# tokens would cross the network readable.
_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Settings:
    """What a :class:`~ketenhub_client.hub.Hub` needs: where, who, and which key."""

    hub: str
    client_id: str
    key_file: Path


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ketenhub-client"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the client keeps what it has seen (checkpoints of each hub, as a witness)."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ketenhub-client"


def config_file(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "config.toml"


def check_hub_url(url: str) -> str:
    """``url`` without a trailing slash, if it is an https URL (or http to this machine)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ConfigError(f"the hub URL must be an https:// URL, not {url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ConfigError(
            f"the hub URL {url!r} is plain http: tokens would cross the network readable; "
            "use https:// (http is accepted for localhost only)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"the hub URL {url!r} may not carry a query, fragment or credentials")
    return url.strip().rstrip("/")


def check_key_file(path: Path) -> Path:
    """``path`` if it is a regular file only its owner may read or write; else why not."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(f"the private key file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"the private key file {path} cannot be read: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"the private key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"the private key file {path} may be read by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); a key others can read is a key others "
            f"can use. Run: chmod 600 {_shell_quoted(path)}"
        )
    return path


def _shell_quoted(path: Path) -> str:
    text = str(path)
    if re.fullmatch(r"[A-Za-z0-9_./~+-]+", text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def read_profiles(env: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Every profile of the configuration file ({} when there is none)."""
    path = config_file(env)
    try:
        with path.open("rb") as handle:
            loaded = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the configuration file {path} cannot be read: {exc}") from exc
    profiles = loaded.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"the configuration file {path} has no [profiles.NAME] tables")
    return {
        str(name): {str(k): str(v) for k, v in fields.items() if isinstance(v, str)}
        for name, fields in profiles.items()
        if isinstance(fields, dict)
    }


def write_profile(name: str, settings: Settings, *, env: Mapping[str, str] | None = None) -> Path:
    """Add or replace profile ``name``; the file keeps the others. Written owner-only, and
    atomically (a temporary file renamed over the old one)."""
    if not _PROFILE_NAME.fullmatch(name):
        raise ConfigError(f"a profile name is 1-64 letters, digits, '_' or '-', not {name!r}")
    profiles = read_profiles(env)
    profiles[name] = {
        "hub": settings.hub,
        "client_id": settings.client_id,
        "key_file": str(settings.key_file),
    }
    lines = ["# ketenhub-client profiles (ketenhub-client configure writes this file)", ""]
    for profile, fields in sorted(profiles.items()):
        lines.append(f"[profiles.{profile}]")
        lines.extend(f"{key} = {_toml_string(value)}" for key, value in sorted(fields.items()))
        lines.append("")
    path = config_file(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    return path


def _toml_string(value: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    escaped = []
    for char in value:
        if char in {'"', "\\"}:
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def load_settings(profile: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The settings to use: profile ``profile`` (``default`` unless named), each field
    overridden by its environment variable. A named profile that does not exist is an error;
    a missing ``default`` is not, if the environment gives every field."""
    env = os.environ if env is None else env
    profiles = read_profiles(env)
    name = profile or DEFAULT_PROFILE
    if profile is not None and profile not in profiles:
        raise ConfigError(
            f"no profile {profile!r} in {config_file(env)}; "
            f"run: ketenhub-client configure --profile {profile}"
        )
    fields: dict[str, Any] = dict(profiles.get(name, {}))
    for key, variable in (
        ("hub", ENV_HUB),
        ("client_id", ENV_CLIENT_ID),
        ("key_file", ENV_KEY_FILE),
    ):
        if env.get(variable):
            fields[key] = env[variable]
    missing = [key for key in ("hub", "client_id", "key_file") if not fields.get(key)]
    if missing:
        raise ConfigError(
            f"not configured: {', '.join(missing)} missing; run `ketenhub-client configure` "
            f"or set {ENV_HUB}, {ENV_CLIENT_ID} and {ENV_KEY_FILE}"
        )
    return Settings(
        hub=check_hub_url(fields["hub"]),
        client_id=str(fields["client_id"]),
        key_file=Path(fields["key_file"]).expanduser(),
    )
