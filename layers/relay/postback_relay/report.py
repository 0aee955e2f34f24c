"""`postback-relay report`: campaign performance from the Dashboard REST API — installs, users
retained on day 1 and day 7, and revenue, per partner and campaign — as a terminal table, CSV,
and an HTML page with charts (matplotlib)."""

from __future__ import annotations

import base64
import csv
import html
import io
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from .dashboard import DashboardClient
from .models.postback import Kind
from .partners import Convention


@dataclass(frozen=True)
class CampaignRow:
    partner: str
    campaign: str
    installs: int
    retained_d1: int
    retained_d7: int
    revenue: float


@dataclass(frozen=True)
class PartnerQuery:
    partner: str
    install_event: str
    campaign_property: str


def partner_queries() -> list[PartnerQuery]:
    """Every partner whose Amplitude naming has an install event and a campaign property."""
    from .partners.custom import load_networks
    from .partners.registry import coded_partners
    from .tracker.service import CONVENTION as TRACKER

    conventions: dict[str, Convention] = {a.display_name: a.convention for a in coded_partners().values()}
    conventions.update({a.display_name: a.convention for a in load_networks().values()})
    conventions["Tracker"] = TRACKER
    return [
        PartnerQuery(name, convention.event_type(Kind.INSTALL, None), convention.property_name("campaign"))
        for name, convention in sorted(conventions.items())
        if "campaign" in convention.properties
    ]


def _by_group(answer: dict[str, Any]) -> dict[str, float]:
    data = answer["data"]
    values: dict[str, float] = {}
    for label, collapsed in zip(data["seriesLabels"], data["seriesCollapsed"], strict=True):
        group = label[1] if isinstance(label, list) else ""
        values[group or "(none)"] = float(collapsed[0]["value"])
    return values


def _retained(answer: dict[str, Any], day: int) -> dict[str, int]:
    retained: dict[str, int] = {}
    for meta, series in zip(answer["data"]["seriesMeta"], answer["data"]["series"], strict=True):
        combined = series["combined"]
        retained[meta.get("groupValue") or "(none)"] = int(combined[day]["count"]) if len(combined) > day else 0
    return retained


def build_report(client: DashboardClient, start: date, end: date) -> list[CampaignRow]:
    span = {"start": start.strftime("%Y%m%d"), "end": end.strftime("%Y%m%d")}
    seen = {item["value"] for item in client.get("events/list").get("data", [])}
    rows: list[CampaignRow] = []
    for query in partner_queries():
        if query.install_event not in seen:
            continue  # no installs from this partner: spare the query budget
        campaign = f"gp:{query.campaign_property}"
        installs = _by_group(
            client.get("events/segmentation", e={"event_type": query.install_event}, m="uniques", g=campaign, **span)
        )
        retention = client.get(
            "retention",
            se={"event_type": query.install_event},
            re={"event_type": "_active"},
            rm="n-day",
            g=campaign,
            **span,
        )
        revenue = _by_group(
            client.get(
                "events/segmentation",
                m="sums",
                g=campaign,
                **span,
                e={"event_type": "_all", "group_by": [{"type": "event", "value": "revenue"}]},
            )
        )
        day1, day7 = _retained(retention, 1), _retained(retention, 7)
        for name in sorted(installs):
            rows.append(
                CampaignRow(
                    query.partner,
                    name,
                    int(installs[name]),
                    day1.get(name, 0),
                    day7.get(name, 0),
                    round(revenue.get(name, 0.0), 2),
                )
            )
    return rows


COLUMNS = ("partner", "campaign", "installs", "retained_d1", "retained_d7", "revenue")


def to_table(rows: list[CampaignRow]) -> str:
    cells = [COLUMNS] + [tuple(str(v) for v in asdict(row).values()) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(line)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def to_csv(rows: list[CampaignRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    return buffer.getvalue()


def chart_png(rows: list[CampaignRow]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    labels = [f"{row.partner}\n{row.campaign}" for row in rows] or ["(no installs)"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    positions = range(len(rows))
    left.bar([p - 0.27 for p in positions], [r.installs for r in rows], width=0.27, label="installs")
    left.bar(list(positions), [r.retained_d1 for r in rows], width=0.27, label="retained day 1")
    left.bar([p + 0.27 for p in positions], [r.retained_d7 for r in rows], width=0.27, label="retained day 7")
    left.set_title("Installs and retention by campaign")
    left.legend()
    right.bar(list(positions), [r.revenue for r in rows], color="tab:green")
    right.set_title("Revenue by campaign")
    for axis in (left, right):
        axis.set_xticks(list(positions), labels[: len(rows)] if rows else [], fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def to_html(rows: list[CampaignRow], start: date, end: date) -> str:
    image = base64.b64encode(chart_png(rows)).decode()
    header = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in asdict(row).values()) + "</tr>" for row in rows
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Campaign report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>Campaign report {start.isoformat()} to {end.isoformat()}</h1>"
        f"<img alt='installs, retention and revenue by campaign' src='data:image/png;base64,{image}'>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )
