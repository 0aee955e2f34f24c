"""`postback-relay report`: campaign performance from Amplitude's Dashboard REST API, per partner and
campaign — installs, the share of the install cohort active on day 1 and day 7, and the cohort's
revenue per currency — as a terminal table, CSV, and a self-contained HTML page (inline SVG).

What each number is (the queries: docs/emulator.md, "What `postback-relay report` asks"):
- installs: users whose first `[Partner] Install` falls in the range, by the campaign it carried
  (`organic` when the partner sent none); one grouped retention query per partner gives them with
- day-1 / day-7 retention: of those users, the share active again 1 / 7 days after installing,
  over the cohort days that are old enough to tell (Amplitude's `outof`);
- revenue: what users the partner attributed, and who installed on or after the start day (by the
  partner's own install-time property), spent up to the end day, summed per currency (Amplitude does
  not convert currencies, so neither does the report).

Queries are grouped per partner (never per day or campaign), long ranges are split so no single query
goes over Amplitude's cost limit, and a `QueryBudget` waits out the budget instead of failing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from postback_relay.models.postback import Kind
from postback_relay.partners import Convention

from .dashboard import COST_PER_WINDOW, DashboardClient, QueryBudget, query_cost

ORGANIC = "organic"
NO_CURRENCY = "unspecified"
_NONE = "(none)"  # Amplitude's label for a property the user did not have
RETENTION_TYPE_COST = 8
# revenue: one event (1) + 4 for grouping it by currency; the summed `$revenue` is no grouping [U].
REVENUE_TYPE_COST = 5


@dataclass(frozen=True)
class PartnerQuery:
    partner: str
    install_event: str
    campaign_property: str
    # The partner's install-time user property: who installed in the range. None: the partner sends
    # none (the first-party tracker), so its revenue is by event date among the users it attributed.
    install_time_property: str | None
    attributed_property: str

    def retention_params(self) -> dict[str, Any]:
        return {
            "se": {"event_type": self.install_event},
            "re": {"event_type": "_active"},
            "rm": "n-day",
            "i": 1,
            "g": f"gp:{self.campaign_property}",
        }

    def revenue_params(self, start: dt.date) -> dict[str, Any]:
        if self.install_time_property is not None:
            midnight = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
            segment = {
                "prop": f"gp:{self.install_time_property}",
                "op": "greater or equal",
                "values": [int(midnight.timestamp() * 1000)],
            }
        else:
            segment = {"prop": f"gp:{self.attributed_property}", "op": "is not", "values": [_NONE]}
        return {
            "m": "sums",
            "e": {
                "event_type": "revenue_amount",
                "group_by": [{"type": "event", "value": "$revenue"}, {"type": "event", "value": "currency"}],
            },
            "s": [segment],
            "g": f"gp:{self.campaign_property}",
            "limit": 1000,
        }

    @staticmethod
    def retention_cost(days: int) -> int:
        return query_cost(days, RETENTION_TYPE_COST, group_bys=1)

    @staticmethod
    def revenue_cost(days: int) -> int:
        return query_cost(days, REVENUE_TYPE_COST, segment_conditions=1, group_bys=1)


def partner_queries() -> list[PartnerQuery]:
    """Every partner whose Amplitude naming has an install event and a campaign property."""
    from postback_relay.partners.custom import load_networks
    from postback_relay.partners.registry import coded_partners
    from postback_relay.tracker.service import CONVENTION as TRACKER

    conventions: dict[str, Convention] = {a.display_name: a.convention for a in coded_partners().values()}
    conventions.update({a.display_name: a.convention for a in load_networks().values()})
    conventions["Tracker"] = TRACKER
    queries = []
    for name, convention in sorted(conventions.items(), key=lambda item: item[0].lower()):
        if "campaign" not in convention.properties:
            continue
        has = convention.properties.__contains__
        attributed = next(f for f in ("is_organic", "media_source", "campaign") if has(f))
        queries.append(
            PartnerQuery(
                name,
                convention.event_type(Kind.INSTALL, None),
                convention.property_name("campaign"),
                convention.property_name("install_time") if has("install_time") else None,
                convention.property_name(attributed),
            )
        )
    return queries


def select_partners(queries: Sequence[PartnerQuery], wanted: Iterable[str]) -> list[PartnerQuery]:
    """The queries of the partners named (any case); ValueError naming the known ones otherwise."""
    names = {q.partner.lower(): q for q in queries}
    chosen = []
    for name in wanted:
        query = names.get(name.strip().lower())
        if query is None:
            known = ", ".join(q.partner for q in queries)
            raise ValueError(f"unknown partner {name!r}: known partners are {known}")
        if query not in chosen:
            chosen.append(query)
    return chosen


@dataclass
class CampaignRow:
    partner: str
    campaign: str
    installs: int = 0
    retained_d1: int = 0
    measured_d1: int = 0  # cohort users installed long enough ago for day 1 to be known
    retained_d7: int = 0
    measured_d7: int = 0
    revenue: dict[str, float] = field(default_factory=dict)  # currency -> amount

    @property
    def d1_share(self) -> float | None:
        return self.retained_d1 / self.measured_d1 if self.measured_d1 else None

    @property
    def d7_share(self) -> float | None:
        return self.retained_d7 / self.measured_d7 if self.measured_d7 else None


@dataclass
class Report:
    start: dt.date
    end: dt.date
    rows: list[CampaignRow]
    days: list[dt.date]
    daily_installs: dict[str, list[int]]  # partner -> installs per day of `days`
    # Partners whose revenue is by event date, not install cohort (they send no install time).
    event_date_revenue: list[str] = field(default_factory=list)
    cost: int = 0
    queries: int = 0
    waited_s: float = 0.0

    @property
    def currencies(self) -> list[str]:
        found = {c for row in self.rows for c, amount in row.revenue.items() if amount}
        return sorted(found - {NO_CURRENCY}) + ([NO_CURRENCY] if NO_CURRENCY in found else [])

    def totals(self) -> CampaignRow:
        total = CampaignRow("All partners", "total")
        for row in self.rows:
            total.installs += row.installs
            total.retained_d1 += row.retained_d1
            total.measured_d1 += row.measured_d1
            total.retained_d7 += row.retained_d7
            total.measured_d7 += row.measured_d7
            for currency, amount in row.revenue.items():
                total.revenue[currency] = round(total.revenue.get(currency, 0.0) + amount, 2)
        return total


def chunks(start: dt.date, end: dt.date, max_days: int) -> list[tuple[dt.date, dt.date]]:
    """[start, end] split into as few, as even, runs of at most `max_days` days as possible."""
    days = (end - start).days + 1
    count = math.ceil(days / max_days)
    size = math.ceil(days / count)
    runs = []
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(days=size - 1))
        runs.append((first, last))
        first = last + dt.timedelta(days=1)
    return runs


def _span(start: dt.date, end: dt.date) -> dict[str, str]:
    return {"start": start.strftime("%Y%m%d"), "end": end.strftime("%Y%m%d")}


def _campaign(value: Any) -> str:
    text = "" if value is None else str(value)
    return ORGANIC if text in ("", _NONE) else text


def _rows_of(found: dict[str, CampaignRow], partner: str) -> Callable[[str], CampaignRow]:
    def row(campaign: str) -> CampaignRow:
        return found.setdefault(campaign, CampaignRow(partner, campaign))

    return row


def plan(queries: Sequence[PartnerQuery], start: dt.date, end: dt.date) -> tuple[int, int]:
    """(number of queries, their total cost) of a report, before it runs."""
    count, cost = 1, 1  # events/list
    per_query_days = (
        (COST_PER_WINDOW // PartnerQuery.retention_cost(1), PartnerQuery.retention_cost),
        (COST_PER_WINDOW // PartnerQuery.revenue_cost(1), PartnerQuery.revenue_cost),
    )
    for _ in queries:
        for max_days, cost_of in per_query_days:
            for first, last in chunks(start, end, max_days):
                count += 1
                cost += cost_of((last - first).days + 1)
    return count, cost


def build_report(
    client: DashboardClient,
    start: dt.date,
    end: dt.date,
    *,
    partners: Sequence[PartnerQuery] | None = None,
    budget: QueryBudget | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    budget = budget or QueryBudget()
    queries = list(partners) if partners is not None else partner_queries()
    total_queries, _ = plan(queries, start, end)
    done = 0

    def ask(path: str, cost: int, **params: Any) -> dict[str, Any]:
        nonlocal done
        answer = budget.run(cost, lambda: client.get(path, **params))
        done += 1
        if progress is not None:
            progress(done, total_queries)
        return answer

    seen = {item.get("value") or item.get("name") for item in ask("events/list", 1).get("data", [])}
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    index = {day.isoformat(): n for n, day in enumerate(days)}
    rows: list[CampaignRow] = []
    daily: dict[str, list[int]] = {}
    by_date_revenue: list[str] = []
    for query in queries:
        if query.install_event not in seen:
            continue  # no installs from this partner: spare the query budget
        found: dict[str, CampaignRow] = {}
        row = _rows_of(found, query.partner)
        per_day = [0] * len(days)
        for first, last in chunks(start, end, COST_PER_WINDOW // query.retention_cost(1)):
            cost = query.retention_cost((last - first).days + 1)
            answer = ask("retention", cost, **query.retention_params(), **_span(first, last))["data"]
            for meta, series in zip(answer.get("seriesMeta", []), answer.get("series", []), strict=True):
                target = row(_campaign(meta.get("groupValue")))
                for date, values in series.get("values", {}).items():
                    cohort = int(values[0]["count"]) if values else 0
                    target.installs += cohort
                    if date in index:
                        per_day[index[date]] += cohort
                combined = series.get("combined", [])
                for n, retained, measured in ((1, "retained_d1", "measured_d1"), (7, "retained_d7", "measured_d7")):
                    if len(combined) > n:
                        setattr(target, retained, getattr(target, retained) + int(combined[n]["count"]))
                        setattr(target, measured, getattr(target, measured) + int(combined[n]["outof"]))
        for first, last in chunks(start, end, COST_PER_WINDOW // query.revenue_cost(1)):
            cost = query.revenue_cost((last - first).days + 1)
            answer = ask("events/segmentation", cost, **query.revenue_params(start), **_span(first, last))["data"]
            for label, collapsed in zip(answer.get("seriesLabels", []), answer.get("seriesCollapsed", []), strict=True):
                # Two group-bys label a series "<currency>; <campaign>": the event's, then the user's.
                text = label[1] if isinstance(label, list) else ""
                currency, _, campaign = str(text).partition("; ")
                amount = float(collapsed[0]["value"]) if collapsed else 0.0
                if not amount:
                    continue
                currency = NO_CURRENCY if currency in ("", _NONE) else currency.upper()
                target = row(_campaign(campaign))
                target.revenue[currency] = round(target.revenue.get(currency, 0.0) + amount, 2)
        if query.install_time_property is None:
            by_date_revenue.append(query.partner)
        daily[query.partner] = per_day
        rows.extend(sorted(found.values(), key=lambda r: (r.campaign == ORGANIC, -r.installs, r.campaign)))
    return Report(start, end, rows, days, daily, by_date_revenue, budget.spent, done, budget.waited_s)


# ------------------------------------------------------------------------------------------ output


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f}%"


def money(amount: float) -> str:
    return f"{amount:,.2f}"


def currency_label(currency: str) -> str:
    return "unspecified currency" if currency == NO_CURRENCY else currency


def _cells(report: Report, row: CampaignRow) -> list[str]:
    return [
        row.partner,
        row.campaign,
        f"{row.installs:,}",
        percent(row.d1_share),
        percent(row.d7_share),
        *(money(row.revenue.get(c, 0.0)) for c in report.currencies),
    ]


def headers(report: Report) -> list[str]:
    return [
        "Partner",
        "Campaign",
        "Installs",
        "Day-1 retention",
        "Day-7 retention",
        *(f"Revenue ({currency_label(c)})" for c in report.currencies),
    ]


def to_table(report: Report) -> str:
    lines = [headers(report)] + [_cells(report, row) for row in report.rows]
    lines.append(_cells(report, report.totals()))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def render(line: list[str]) -> str:
        # Names to the left, numbers to the right.
        return "  ".join(v.ljust(widths[i]) if i < 2 else v.rjust(widths[i]) for i, v in enumerate(line)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [render(line) for line in lines[1:-1]]
    notes = [
        f"{report.start.isoformat()} to {report.end.isoformat()}: installs in the range; retention as a share of "
        "the install cohort; revenue of that cohort up to the end day, per currency (never converted)."
    ]
    if report.event_date_revenue:
        notes.append(f"{', '.join(report.event_date_revenue)}: revenue by event date (no install time is sent).")
    return "\n".join([render(lines[0]), rule, *body, rule, render(lines[-1]), "", *notes])


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    currencies = report.currencies
    writer.writerow(
        [
            "partner",
            "campaign",
            "installs",
            "retained_d1",
            "measured_d1",
            "retention_d1",
            "retained_d7",
            "measured_d7",
            "retention_d7",
            *(f"revenue_{c}" for c in currencies),
        ]
    )
    for row in report.rows:

        def share(value: float | None) -> str:
            return "" if value is None else f"{value:.4f}"

        writer.writerow(
            [
                row.partner,
                row.campaign,
                row.installs,
                row.retained_d1,
                row.measured_d1,
                share(row.d1_share),
                row.retained_d7,
                row.measured_d7,
                share(row.d7_share),
                *(f"{row.revenue.get(c, 0.0):.2f}" for c in currencies),
            ]
        )
    return buffer.getvalue()


def to_html(report: Report) -> str:
    from .report_html import render

    return render(report)
