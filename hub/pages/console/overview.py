"""``/audit``: the console's overview, three charts of a period with the table of each.

A GET form chooses the period: ``since`` and ``until`` as dates (whole days in
Europe/Amsterdam, both included), by default the last 14 days up to today; at most
:data:`~hub.auditing.stats.MAX_DAYS` days, else the form again with why (422), as for a date
that is not one or a period that ends before it starts. The figures are
:meth:`hub.auditing.queries.AuditQueries.stats`, the API's own (``GET /api/v1/audit/stats``),
recorded as an ``audit.query`` about ``audit_stats``:

- accesses per day per organisation (successful ``document.read`` and ``document.download``),
  stacked per organisation, each with its own colour and pattern;
- denials per day;
- downloads per purpose.

Each chart is an SVG made on the server (:mod:`hub.ui.charts`) described by the table beside
it, which holds every figure; a period without events says so instead of drawing an empty
chart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Final

from babel.dates import format_date
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from audit.events import Action
from auth.scopes import Scope
from hub.auditing.queries import AuditQueries, audit_queries
from hub.auditing.stats import MAX_DAYS, AuditStats
from hub.core.errors import Unprocessable
from hub.directory import organisations_repository
from hub.pages.choices import ZONE, form_day
from hub.pages.display import Display, display, page_context
from hub.runtime import Services
from hub.ui.charts import Series, bar_chart
from hub.ui.i18n import Language
from hub.ui.person import PageServing
from hub.ui.rendering import render, translator
from hub.web.recording import Call

router = APIRouter(include_in_schema=False)

DEFAULT_DAYS: Final = 14
_SHORT_DAY: Final = {Language.NL: "d MMM", Language.EN: "d MMM"}
_LOCALES: Final = {Language.NL: "nl_NL", Language.EN: "en_GB"}


@dataclass(frozen=True, slots=True)
class OverviewPages:
    """The overview's service: the audit queries of the request, and the policy's purposes
    (code -> description) that name the downloads."""

    queries: AuditQueries
    purposes: Mapping[str, str]


def _overview(call: Call, services: Services) -> OverviewPages:
    return OverviewPages(audit_queries(call, services), services.policy.purposes)


Overview = Annotated[
    OverviewPages,
    Depends(
        PageServing(
            _overview,
            scope=Scope.AUDIT_READ,
            action=Action.AUDIT_QUERY,
            resource_type="audit_stats",
        )
    ),
]


@dataclass(frozen=True, slots=True)
class Figure:
    """One chart and its table: ``svg`` is the picture (or the sentence for no events)."""

    key: str
    title: str
    svg: Markup
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: bool

    @property
    def table_id(self) -> str:
        return f"{self.key}-table"


@dataclass(frozen=True, slots=True)
class Period:
    """The form's values, and the days they mean when they are valid."""

    since_text: str
    until_text: str
    since: date | None
    until: date | None
    errors: dict[str, list[str]]


def _period(since: str | None, until: str | None, today: date, _: Callable[[str], str]) -> Period:
    errors: dict[str, list[str]] = {}
    days: dict[str, date] = {}
    defaults = {"since": today - timedelta(days=DEFAULT_DAYS - 1), "until": today}
    for name, text in (("since", since), ("until", until)):
        if not text:
            days[name] = defaults[name]
            continue
        try:
            days[name] = form_day(text.strip())
        except ValueError:
            errors[name] = [_("Give a date, such as 2026-12-06.")]
    first, last = days.get("since"), days.get("until")
    if first is not None and last is not None:
        if first > last:
            errors["until"] = [_("The last day must not be before the first.")]
        elif (last - first).days + 1 > MAX_DAYS:
            message = _("A period is at most %(days)d days.") % {"days": MAX_DAYS}
            errors["until"] = [message]
    return Period(
        since_text=since if since is not None else defaults["since"].isoformat(),
        until_text=until if until is not None else defaults["until"].isoformat(),
        since=None if errors else first,
        until=None if errors else last,
        errors=errors,
    )


def _days(stats: AuditStats) -> list[date]:
    return [stats.since + timedelta(days=n) for n in range((stats.until - stats.since).days + 1)]


@dataclass(frozen=True, slots=True)
class _Wording:
    shown: Display
    gettext: Callable[[str], str]
    names: dict[str, str]
    purposes: dict[str, str]
    empty: str

    def short_day(self, day: date) -> str:
        language = self.shown.language
        return format_date(day, _SHORT_DAY[language], locale=_LOCALES[language])

    def organisation(self, code: str | None) -> str:
        if not code:
            return self.gettext("no organisation")
        name = self.names.get(code)
        return f"{name} ({code})" if name and name != code else code

    def chart(
        self,
        key: str,
        title: str,
        categories: Sequence[str],
        series: Sequence[Series],
        *,
        legend: bool | None = None,
    ) -> Markup:
        return bar_chart(
            chart_id=key,
            title=title,
            table_id=f"{key}-table",
            categories=categories,
            series=series,
            empty=self.empty,
            legend=legend,
        )


def _accesses(stats: AuditStats, days: list[date], words: _Wording) -> Figure:
    _ = words.gettext
    codes = sorted({c.organisation or "" for c in stats.accesses})
    index = {day: n for n, day in enumerate(days)}
    values = {code: [0] * len(days) for code in codes}
    for count in stats.accesses:
        values[count.organisation or ""][index[count.day]] += count.count
    series = [Series(code or "—", tuple(values[code])) for code in codes]
    title = _("Accesses to documents per day, per organisation")
    rows = tuple(
        (
            words.shown.day(day),
            *(str(values[code][n]) for code in codes),
            str(sum(values[code][n] for code in codes)),
        )
        for n, day in enumerate(days)
    )
    return Figure(
        key="accesses",
        title=title,
        # The organisations are named by the legend, even when there is only one.
        svg=words.chart("accesses", title, [words.short_day(d) for d in days], series, legend=True),
        headers=(_("Day"), *(words.organisation(c or None) for c in codes), _("Total")),
        rows=rows,
        empty=not stats.accesses,
    )


def _denials(stats: AuditStats, days: list[date], words: _Wording) -> Figure:
    _ = words.gettext
    counts = {c.day: c.count for c in stats.denials}
    values = tuple(counts.get(day, 0) for day in days)
    title = _("Denials per day")
    return Figure(
        key="denials",
        title=title,
        svg=words.chart(
            "denials", title, [words.short_day(d) for d in days], [Series(_("Denials"), values)]
        ),
        headers=(_("Day"), _("Denials")),
        rows=tuple((words.shown.day(d), str(v)) for d, v in zip(days, values, strict=True)),
        empty=not any(values),
    )


def _downloads(stats: AuditStats, words: _Wording) -> Figure:
    _ = words.gettext
    title = _("Downloads per purpose")
    labels = [c.purpose or c.purpose_id or _("no purpose") for c in stats.downloads]
    named = [
        words.shown.purpose(c.purpose, words.purposes.get(c.purpose)) if c.purpose else label
        for c, label in zip(stats.downloads, labels, strict=True)
    ]
    values = tuple(c.count for c in stats.downloads)
    return Figure(
        key="downloads",
        title=title,
        svg=words.chart("downloads", title, labels, [Series(_("Downloads"), values)]),
        headers=(_("Purpose"), _("Downloads")),
        rows=tuple((name, str(v)) for name, v in zip(named, values, strict=True)),
        empty=not any(values),
    )


def figures(stats: AuditStats, words: _Wording) -> tuple[Figure, ...]:
    """The overview's three charts with their tables."""
    days = _days(stats)
    return (_accesses(stats, days, words), _denials(stats, days, words), _downloads(stats, words))


@router.get("/audit", response_class=HTMLResponse)
def overview(
    request: Request,
    pages: Overview,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    _ = translator(request)
    queries = pages.queries
    today = queries.now.astimezone(ZONE).date()
    period = _period(since, until, today, _)
    shown = display(request)
    context = page_context(request, period=period, figures=(), max_days=MAX_DAYS)
    if period.since is None or period.until is None:
        return render(request, "pages/audit/overview.html", context, status_code=422)
    try:
        stats = queries.stats(period.since, period.until)
    except Unprocessable as exc:  # the service's own bounds, should the form's ever differ
        errors = {"until": [exc.message]}
        context["period"] = Period(period.since_text, period.until_text, None, None, errors)
        return render(request, "pages/audit/overview.html", context, status_code=422)
    words = _Wording(
        shown=shown,
        gettext=_,
        names={o.code: o.name for o in organisations_repository.list_all(queries.session)},
        purposes=dict(pages.purposes),
        empty=_("No events in this period."),
    )
    context["figures"] = figures(stats, words)
    context["period_shown"] = _("%(first)s to %(last)s") % {
        "first": shown.day(stats.since),
        "last": shown.day(stats.until),
    }
    return render(request, "pages/audit/overview.html", context)
