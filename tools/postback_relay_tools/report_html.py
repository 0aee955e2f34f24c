"""The report as one self-contained HTML page: inline SVG charts and a table, no script, no CDN (the
page must open offline and in CI). Charts with many categories are horizontal, so campaign names never
crowd an axis; the daily chart labels only as many days as fit."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import CampaignRow, Report

# Okabe-Ito: told apart with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999")
WIDTH = 900
_CHAR_PX = 6.8  # average width of a 12 px sans-serif character, to reserve room for labels
_MAX_LABEL = 40


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def nice_ticks(top: float, *, integer: bool, target: int = 5) -> list[float]:
    """0 … at least `top` in 1/2/5 x 10^k steps; whole numbers only when `integer`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    count = math.ceil(top / step - 1e-9)
    return [round(step * n, 6) for n in range(count + 1)]


def _label(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _axis_number(value: float, integer: bool) -> str:
    return f"{int(value):,}" if integer else f"{value:,.2f}".rstrip("0").rstrip(".")


def horizontal_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    axis_title: str,
    integer: bool,
    fixed_top: float | None = None,
    tick_text: Callable[[float], str] | None = None,
    chart_id: str,
) -> str:
    """One row per label, one bar per series in it; the value axis at the bottom."""
    band = 14 + 12 * len(series)
    left = min(300, 16 + _CHAR_PX * max((len(_label(s)) for s in labels), default=4))
    right, top_pad, bottom = 24, 12, 56
    plot_w = WIDTH - left - right
    plot_h = band * max(1, len(labels))
    height = top_pad + plot_h + bottom
    peak = max((v for _, values, _ in series for v in values), default=0.0)
    ticks = nice_ticks(fixed_top if fixed_top is not None else peak, integer=integer)
    top = ticks[-1] or 1.0
    text_of = tick_text or (lambda v: _axis_number(v, integer))

    def x(value: float) -> float:
        return left + plot_w * value / top

    parts = [
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{_esc(title)}" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    parts.append('<g class="x-axis">')
    for tick in ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top_pad}" y2="{top_pad + plot_h}" class="grid"/>'
            f'<text class="tick" x="{x(tick):.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle">'
            f"{_esc(text_of(tick))}</text>"
        )
    parts.append(
        f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">'
        f"{_esc(axis_title)}</text></g>"
    )
    parts.append('<g class="y-axis">')
    for n, label in enumerate(labels):
        y = top_pad + band * n + band / 2
        parts.append(
            f'<text class="category" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"<title>{_esc(label)}</title>{_esc(_label(label))}</text>"
        )
    parts.append('</g><g class="bars">')
    for n, label in enumerate(labels):
        for k, (name, values, colour) in enumerate(series):
            value = values[n]
            y = top_pad + band * n + 7 + 12 * k
            parts.append(
                f'<rect x="{left}" y="{y}" width="{max(0.0, x(value) - left):.1f}" height="10" fill="{colour}">'
                f"<title>{_esc(label)}: {_esc(name)} {_esc(text_of(value))}</title></rect>"
            )
    parts.append(f'</g><line x1="{left}" x2="{left}" y1="{top_pad}" y2="{top_pad + plot_h}" class="axis"/></svg>')
    return "".join(parts)


def daily_stacked(report: Report, colours: dict[str, str]) -> str:
    """Installs per day, stacked by partner; as many day labels as fit without touching."""
    left, right, top_pad, bottom = 64, 24, 12, 64
    plot_w, plot_h = WIDTH - left - right, 240
    height = top_pad + plot_h + bottom
    days = report.days
    totals = [sum(values[n] for values in report.daily_installs.values()) for n in range(len(days))]
    ticks = nice_ticks(max(totals, default=0), integer=True)
    top = ticks[-1] or 1.0
    step = plot_w / max(1, len(days))
    every = max(1, math.ceil(64 / step))  # a "Mar 14" label needs about 48 px and some air

    def y(value: float) -> float:
        return top_pad + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart" id="daily-installs" role="img" aria-label="Installs per day by partner" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
        '<g class="y-axis">'
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
            f'<text class="tick" x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{int(tick):,}</text>'
        )
    parts.append(
        f'<text class="axis-title" transform="translate(16 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">Installs</text></g><g class="bars">'
    )
    for n, day in enumerate(days):
        base = 0.0
        for partner, values in report.daily_installs.items():
            value = values[n]
            if not value:
                continue
            parts.append(
                f'<rect x="{left + step * n + step * 0.15:.1f}" y="{y(base + value):.1f}" width="{step * 0.7:.1f}" '
                f'height="{y(base) - y(base + value):.1f}" fill="{colours[partner]}">'
                f"<title>{day.isoformat()} {_esc(partner)}: {value:,} installs</title></rect>"
            )
            base += value
    parts.append('</g><g class="x-axis">')
    for n, day in enumerate(days):
        if n % every:
            continue
        parts.append(
            f'<text class="tick" x="{left + step * (n + 0.5):.1f}" y="{top_pad + plot_h + 18}" '
            f'text-anchor="middle">{day.strftime("%b %d")}</text>'
        )
    parts.append(
        f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{height - 12}" text-anchor="middle">'
        "Install day</text></g>"
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" class="axis"/></svg>'
    )
    return "".join(parts)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<ul class="legend">'
        + "".join(f'<li><span style="background:{c}"></span>{_esc(name)}</li>' for name, c in items)
        + "</ul>"
    )


def render(report: Report) -> str:
    from .report import currency_label, headers, money, percent

    partners = list(dict.fromkeys([*report.daily_installs, *(r.partner for r in report.rows)]))
    colours = {p: PALETTE[n % len(PALETTE)] for n, p in enumerate(partners)}
    rows = report.rows
    labels = [f"{r.partner} · {r.campaign}" for r in rows]
    total = report.totals()
    currencies = report.currencies
    cards = [
        ("Installs", f"{total.installs:,}"),
        ("Day-1 retention", percent(total.d1_share)),
        ("Day-7 retention", percent(total.d7_share)),
        *(
            (f"Revenue ({currency_label(c)})", f"{money(total.revenue.get(c, 0.0))} {c if c != 'unspecified' else ''}")
            for c in currencies
        ),
    ]
    sections = [
        '<section class="totals">'
        + "".join(
            f'<div class="card"><div class="name">{_esc(n)}</div><div class="value">{_esc(v.strip())}</div></div>'
            for n, v in cards
        )
        + "</section>",
        "<h2>Installs per day</h2>",
        _legend([(p, colours[p]) for p in report.daily_installs]),
        daily_stacked(report, colours),
    ]
    if rows:
        sections += [
            "<h2>Installs by campaign</h2>",
            horizontal_bars(
                "Installs by campaign",
                labels,
                [("installs", [r.installs for r in rows], PALETTE[0])],
                axis_title="Installs",
                integer=True,
                chart_id="installs-by-campaign",
            ),
            "<h2>Retention by campaign</h2>",
            _legend([("Day 1", PALETTE[2]), ("Day 7", PALETTE[1])]),
            horizontal_bars(
                "Retention by campaign",
                labels,
                [
                    ("day 1", [(r.d1_share or 0.0) * 100 for r in rows], PALETTE[2]),
                    ("day 7", [(r.d7_share or 0.0) * 100 for r in rows], PALETTE[1]),
                ],
                axis_title="Share of the install cohort active again (%)",
                integer=True,
                fixed_top=100.0,
                tick_text=lambda v: f"{v:.0f}%",
                chart_id="retention-by-campaign",
            ),
        ]
    for currency in currencies:
        paying = [r for r in rows if r.revenue.get(currency)]
        name = currency_label(currency)
        sections += [
            f"<h2>Revenue of the install cohort by campaign — {_esc(name)}</h2>",
            horizontal_bars(
                f"Revenue in {name} by campaign",
                [f"{r.partner} · {r.campaign}" for r in paying],
                [(name, [r.revenue[currency] for r in paying], PALETTE[5])],
                axis_title=f"Revenue ({name})",
                integer=False,
                chart_id=f"revenue-{currency.lower()}",
            ),
        ]
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers(report))

    def cells(row: CampaignRow, tag: str = "td") -> str:
        values = [
            row.partner,
            row.campaign,
            f"{row.installs:,}",
            percent(row.d1_share),
            percent(row.d7_share),
            *(money(row.revenue.get(c, 0.0)) for c in currencies),
        ]
        return "<tr>" + "".join(f"<{tag}>{_esc(v)}</{tag}>" for v in values) + "</tr>"

    notes = [
        "Installs: users whose first install event from the partner falls in the range, by the campaign it "
        "carried (<em>organic</em>: the partner sent no campaign).",
        "Retention: the share of those users active again on day 1 and day 7 after installing, over the install "
        "days old enough to tell.",
        "Revenue: what those users spent up to the end day, per currency as sent (Amplitude converts none).",
    ]
    if report.event_date_revenue:
        notes.append(f"{_esc(', '.join(report.event_date_revenue))}: revenue by event date (no install time is sent).")
    sections += [
        "<h2>By campaign</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells(r) for r in rows)}</tbody>"
        f"<tfoot>{cells(total, 'th')}</tfoot></table>",
        '<ul class="notes">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>",
        f'<p class="cost">{report.queries} Dashboard queries, cost {report.cost:,}.</p>',
    ]
    style = (
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:"
        f"{WIDTH + 40}px;color:#1a1a1a;padding:0 20px}}h1{{font-size:22px;margin:0 0 4px}}"
        "h2{font-size:16px;margin:28px 0 6px}.sub{color:#555;margin:0 0 16px}"
        ".totals{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;"
        "min-width:140px}.card .name{color:#555;font-size:12px}.card .value{font-size:20px;font-weight:600}"
        "svg text{font-size:12px;fill:#333}svg .axis-title{font-size:12px;fill:#111;font-weight:600}"
        "svg .grid{stroke:#e6e6e6}svg .axis{stroke:#888}"
        ".legend{list-style:none;padding:0;margin:0 0 4px;display:flex;flex-wrap:wrap;gap:14px;font-size:12px}"
        ".legend span{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:-1px}"
        "table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #e3e3e3;"
        "padding:5px 8px;text-align:right}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}"
        "thead th{border-bottom:2px solid #999}tfoot th{border-top:2px solid #999}"
        ".notes,.cost{color:#555;font-size:12px}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Campaign report {report.start.isoformat()} to {report.end.isoformat()}</title>"
        f"<style>{style}</style></head><body>"
        f"<h1>Campaign report</h1><p class='sub'>Installs {report.start.isoformat()} to {report.end.isoformat()} "
        f"({len(report.days)} days), {len(partners)} partner{'s' if len(partners) != 1 else ''}</p>"
        + "".join(sections)
        + "</body></html>"
    )
