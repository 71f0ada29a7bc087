"""The SVG bar charts: round ticks, bars to scale, labels escaped, series told apart by more
than colour, the picture tied to its table, and no empty chart for a period without events."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from hub.ui.charts import PALETTE, Series, bar_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _chart(categories: list[str], *series: Series) -> str:
    return str(
        bar_chart(
            chart_id="accesses",
            title="Accesses per day",
            table_id="accesses-table",
            categories=categories,
            series=series,
            empty="No events in this period.",
        )
    )


def _bars(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


@pytest.mark.parametrize(
    ("largest", "ticks"),
    [
        (1, (0, 1)),
        (3, (0, 1, 2, 3)),
        (7, (0, 2, 4, 6, 8)),
        (10, (0, 2, 4, 6, 8, 10)),
        (23, (0, 5, 10, 15, 20, 25)),
        (99, (0, 20, 40, 60, 80, 100)),
        (1234, (0, 500, 1000, 1500)),
    ],
)
def test_ticks_are_round_numbers_up_to_at_least_the_largest(
    largest: int, ticks: tuple[int, ...]
) -> None:
    assert nice_ticks(largest) == ticks


def test_ticks_never_step_by_a_fraction_of_a_count() -> None:
    for largest in range(1, 300):
        ticks = nice_ticks(largest)
        steps = {b - a for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1
        step = steps.pop()
        assert step >= 1
        assert str(step).strip("0") in {"1", "2", "5"}
        assert ticks[-1] >= largest > ticks[-2]
        assert len(ticks) <= 6


def test_bars_are_to_scale_and_stacked() -> None:
    svg = _chart(["1 dec", "2 dec"], Series("IOM", (2, 0)), Series("DTV", (2, 4)))
    bars = _bars(svg)
    assert [b.find(f"{SVG}title").text for b in bars] == [  # type: ignore[union-attr]
        "1 dec, IOM: 2",
        "1 dec, DTV: 2",
        "2 dec, DTV: 4",
    ]
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[0] == pytest.approx(heights[1])
    assert heights[2] == pytest.approx(2 * heights[0])
    # Stacked: DTV's part of the first bar sits on top of IOM's.
    first, second = bars[0], bars[1]
    assert float(second.get("y", "0")) + heights[1] == pytest.approx(float(first.get("y", "0")))
    # The totals above the bars, and the ticks of the axis.
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert {"0", "1", "2", "3", "4"} <= set(texts)
    assert texts.count("4") >= 2  # the axis' 4 and the total of both bars


def test_the_picture_is_named_and_described_by_its_table() -> None:
    svg = ET.fromstring(_chart(["1 dec"], Series("IOM", (3,))))
    assert svg.get("role") == "img"
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Accesses per day"
    assert svg.get("aria-labelledby") == title.get("id")
    assert svg.get("aria-describedby") == "accesses-table"


def test_series_differ_in_pattern_as_well_as_colour_and_the_legend_shows_both() -> None:
    names = [f"ORG{i}" for i in range(len(PALETTE))]
    svg = _chart(["1 dec"], *(Series(n, (1,)) for n in names))
    root = ET.fromstring(svg)
    fills = [b.get("fill") for b in _bars(svg)]
    assert len(set(fills)) == len(names)
    patterns = {p.get("id"): p for p in root.iter(f"{SVG}pattern")}
    drawn = [ET.tostring(patterns[f[5:-1]]) for f in fills if f and f.startswith("url(#")]
    assert len(drawn) == len(names) - 1  # the first series solid, each other its own pattern
    shapes = [re.sub(rb'fill="#[0-9a-f]{6}"|id="[^"]*"', b"", d) for d in drawn]
    assert len(set(shapes)) == len(shapes)  # the patterns differ without their colour too
    legend = [t.text for t in root.iter(f"{SVG}text") if t.text in names]
    assert legend == names
    swatches = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("width") == "14"]
    assert swatches == fills


def test_one_series_has_a_legend_only_when_asked() -> None:
    svg = _chart(["terugkeer", "opvang"], Series("Downloads", (5, 1)))
    assert "Downloads" not in [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    named = bar_chart(
        chart_id="accesses",
        title="Accesses",
        table_id="t",
        categories=["1 dec"],
        series=[Series("IOM", (2,))],
        empty="",
        legend=True,
    )
    assert "IOM" in [t.text for t in ET.fromstring(str(named)).iter(f"{SVG}text")]


def test_a_lone_bar_is_a_bar_not_a_wall() -> None:
    [bar] = _bars(_chart(["terugkeer"], Series("Downloads", (3,))))
    assert float(bar.get("width", "0")) <= 64


def test_labels_are_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    svg = _chart([hostile], Series('"><svg onload=x>', (1,)))
    assert "<script>" not in svg
    assert "onload=x>" not in svg
    root = ET.fromstring(svg)  # still well-formed
    assert hostile in [t.text for t in root.iter(f"{SVG}text")]
    assert "style" not in svg  # the CSP refuses inline style


def test_an_empty_period_says_so_instead_of_drawing_an_empty_chart() -> None:
    for categories, series in (
        (["1 dec", "2 dec"], [Series("IOM", (0, 0))]),
        ([], []),
        (["1 dec"], []),
    ):
        shown = _chart(categories, *series)
        assert "<svg" not in shown
        assert "No events in this period." in shown
    escaped = bar_chart(
        chart_id="x", title="t", table_id="t", categories=[], series=[], empty="<b>none</b>"
    )
    assert "<b>" not in str(escaped)


def test_many_days_are_labelled_sparsely_but_all_drawn() -> None:
    days = [f"{d} dec" for d in range(92)]
    svg = _chart(days, Series("IOM", tuple(range(1, 93))))
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.text in days]
    assert 8 <= len(labels) <= 16
    assert len(_bars(svg)) == 92


@pytest.mark.parametrize(
    ("chart_id", "series"),
    [
        ("ok", [Series("a", (1, 2))]),  # two values for one category
        ("ok", [Series("a", (-1,))]),
        ('x" onload="y', [Series("a", (1,))]),
    ],
)
def test_bad_input_is_refused(chart_id: str, series: list[Series]) -> None:
    with pytest.raises(ValueError, match=r"."):
        bar_chart(
            chart_id=chart_id, title="t", table_id="t", categories=["a"], series=series, empty=""
        )
