"""``docs/observability/grafana-dashboard.json`` is valid and asks only for metrics the hub has.

Every metric name in the dashboard's queries must appear in a real scrape of a running hub's
``GET /metrics``, so a renamed metric breaks this test rather than a panel in production.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.oauth import Hub, hub_settings, start_hub

DASHBOARD = Path(__file__).parent.parent / "docs" / "observability" / "grafana-dashboard.json"
_METRIC = re.compile(r"\b((?:ketenhub|process|python)_[a-z0-9_]+)")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]


@pytest.fixture
def sqlite_hub(tmp_path: Path, fresh_sqlite_url: str) -> Iterator[Hub]:
    yield from start_hub(hub_settings(tmp_path, fresh_sqlite_url))


def test_the_dashboard_is_valid_json_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    assert dashboard["title"] == "Ketenhub"
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert len(_queries(dashboard)) >= 15
    titles = " ".join(p["title"] for p in _panels(dashboard)).lower()
    for subject in ("latency", "bytes", "lock", "tree size", "checkpoint", "pool", "store",
                    "tokens", "logins"):  # fmt: skip
        assert subject in titles


def test_every_metric_the_dashboard_uses_is_in_a_real_scrape(sqlite_hub: Hub) -> None:
    scraper = sqlite_hub.register(organisation="DTV", scopes="metrics:read")
    token = sqlite_hub.token(scraper)
    sqlite_hub.client.get("/readyz")
    response = sqlite_hub.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    families = {family.name for family in text_string_to_metric_families(response.text)}
    samples = {
        sample.name
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }

    def scraped(name: str) -> bool:
        if name in samples or name in families:
            return True
        return any(name.endswith(s) and name.removesuffix(s) in families for s in _SUFFIXES)

    used = {name for query in _queries(json.loads(DASHBOARD.read_text("utf-8")))
            for name in _METRIC.findall(query)}  # fmt: skip
    assert used
    missing = sorted(name for name in used if not scraped(name))
    assert not missing, f"the dashboard queries metrics the hub does not expose: {missing}"
