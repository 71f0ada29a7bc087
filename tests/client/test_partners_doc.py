"""The partner's guide, docs/partners.md, run as written against a real hub process.

Every Python example in the guide carries a marker naming its group (``<!-- example: GROUP
-->`` on the line before the code block). The examples of a group run in the order they
appear, as one script, the way a partner would paste them one after another:

- ``partner``: authlib's ``OAuth2Client`` with ``PrivateKeyJWT`` (a token, introspection,
  revocation), an upload with an ``Idempotency-Key`` sent twice, a tus upload with tuspy, a
  webhook subscription and the inbox feed, as the demo IOM client;
- ``requests-oauthlib``: a token and a list with requests-oauthlib and a self-signed assertion;
- ``receiver``: the webhook receiver's check with ``standardwebhooks``; the end-to-end story
  (``test_partner_story.py``) uses it on the hub's real deliveries, here it meets a message
  signed with the library's own signer and a forged one.

The scripts run in a subprocess with the test environment's interpreter (which has the
libraries the guide names), the settings ``ketenhub-client`` reads in the environment, and a
``v-number.txt`` in the working directory, as the guide says.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fixtures.secrets import SCANNER
from tests.fixtures.served import ServedHub

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "partners.md"
EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", re.DOTALL)
GROUPS = ("partner", "requests-oauthlib", "receiver")


def examples(group: str) -> str:
    """The guide's examples of ``group``, joined in their order."""
    found = [code for name, code in EXAMPLE.findall(GUIDE.read_text("utf-8")) if name == group]
    assert found, f"docs/partners.md has no example of group {group!r}"
    return "\n".join(found)


def test_every_python_example_in_the_guide_is_run() -> None:
    guide = GUIDE.read_text("utf-8")
    blocks = guide.count("```python")
    marked = EXAMPLE.findall(guide)
    assert len(marked) == blocks, "a Python example in docs/partners.md has no example marker"
    assert {name for name, _ in marked} == set(GROUPS)


def run_examples(
    group: str, hub: ServedHub, workdir: Path, *, client_id: str = "demo-iom"
) -> subprocess.CompletedProcess[str]:
    credentials = json.loads((hub.data_dir / "demo-credentials.json").read_text())
    client = next(c for c in credentials["clients"] if c["client_id"] == client_id)
    key_file = workdir / f"{client_id}.jwk"
    key_file.write_text(json.dumps(client["private_jwk"]))
    key_file.chmod(0o600)
    (workdir / "v-number.txt").write_text("4827150396\n")
    script = workdir / f"{group}.py"
    script.write_text(examples(group))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETENHUB_")}
    env.update(
        KETENHUB_CLIENT_HUB=hub.base_url,
        KETENHUB_CLIENT_ID=client_id,
        KETENHUB_CLIENT_KEY_FILE=str(key_file),
    )
    if group == "requests-oauthlib":  # the demo hub is plain http, as the guide says
        env["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    SCANNER.add(f"docs/partners.md examples {group!r} stdout", result.stdout)
    SCANNER.add(f"docs/partners.md examples {group!r} stderr", result.stderr)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


def test_the_partner_examples_run_as_written(served_hub: ServedHub, tmp_path: Path) -> None:
    output = run_examples("partner", served_hub, tmp_path).stdout
    assert "documents visible" in output
    uploaded = re.search(r"^uploaded once: ([0-9a-f-]{36})$", output, re.MULTILINE)
    chunked = re.search(r"^uploaded in chunks: ([0-9a-f-]{36})$", output, re.MULTILINE)
    assert uploaded, output
    assert chunked, output
    # What the examples claim, seen from outside: both documents exist for IOM, once each.
    token = served_hub.token("demo-iom", "documents:read")
    for document_id in (uploaded[1], chunked[1]):
        response = httpx.get(
            f"{served_hub.base_url}/api/v1/documents/{document_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
    assert (tmp_path / "laissez-passer-scan.pdf").stat().st_size > 3 * 1024 * 1024


def test_the_requests_oauthlib_example_runs_as_written(
    served_hub: ServedHub, tmp_path: Path
) -> None:
    output = run_examples("requests-oauthlib", served_hub, tmp_path).stdout
    assert "documents visible" in output


def receiver_check() -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(examples("receiver"), str(GUIDE), "exec"), namespace)
    return namespace["verified_event"]


def test_the_receivers_check_takes_a_signed_message_and_refuses_a_forged_one() -> None:
    verified_event = receiver_check()
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"type": "share.received", "timestamp": "2026-12-06T16:00:00Z", "data": {}})
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", now, body)
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": signature,
    }
    assert verified_event(secret, body.encode(), headers)["type"] == "share.received"
    forged = body.replace("share.received", "share.revoked").encode()
    with pytest.raises(WebhookVerificationError):
        verified_event(secret, forged, headers)
