"""What ``init --demo`` and ``serve`` say about where to log in (:mod:`hub.cli.directions`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.directions import demo_directions, demo_pointer, issuer_mismatch
from hub.config import Environment, Settings


def settings_for(issuer: str, data_dir: Path) -> Settings:
    return Settings(environment=Environment.DEMO, data_dir=data_dir, issuer=issuer)


@pytest.mark.parametrize(
    ("issuer", "port", "suggested"),
    [
        ("http://127.0.0.1:8000", 8000, None),
        ("http://localhost", 80, None),
        ("http://127.0.0.1:8000", 9000, "http://127.0.0.1:9000"),
        ("http://localhost:8000", 8765, "http://localhost:8765"),
        ("http://[::1]:8000", 9000, "http://[::1]:9000"),
        # An https issuer is a proxy in front of the hub, on a port of its own.
        ("https://127.0.0.1:8443", 8000, None),
        ("https://hub.example.nl", 8000, None),
    ],
)
def test_a_loopback_issuer_at_another_port_is_named_with_its_fix(
    issuer: str, port: int, suggested: str | None, tmp_path: Path
) -> None:
    warning = issuer_mismatch(settings_for(issuer, tmp_path), port=port)
    if suggested is None:
        assert warning is None
    else:
        assert warning is not None
        assert f"KETENHUB_ISSUER is {issuer}, but this hub serves port {port}" in warning
        assert f"{issuer}/login/callback" in warning
        assert f"Set KETENHUB_ISSUER={suggested} " in warning


def test_the_directions_name_the_address_and_the_file_never_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = settings_for("http://127.0.0.1:8765", tmp_path / "var")
    pointer = demo_pointer(settings)
    assert "http://127.0.0.1:8765/ once `ketenhub serve` runs" in pointer
    assert pointer.endswith("TOTP secrets are in var/demo-credentials.json")  # relative to cwd
    said = "\n".join(demo_directions(settings))
    assert "open http://127.0.0.1:8765/ and log in as a demo person" in said
    assert 'var/demo-credentials.json, under "users"' in said
    assert 'pyotp.TOTP("TOTP_SECRET").now()' in said
    # Elsewhere than under the working directory, the path is shown whole.
    elsewhere = settings_for("http://127.0.0.1:8765", Path("/srv/ketenhub/var"))
    assert "/srv/ketenhub/var/demo-credentials.json" in demo_pointer(elsewhere)
