"""The Dashboard REST API (`/api/2/…`) computed over the emulator's stored events.

The API: https://amplitude.com/docs/apis/analytics/dashboard-rest; what the emulator implements: docs/emulator.md.

`Dashboard.prepare` validates a request's parameters (400 on malformed `e`/`s` JSON, missing dates, …) and
prices it with Amplitude's cost formula; the returned `Query.run` computes the answer. Charging happens in
between (server.py), so a refused query costs nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .settings import EmulatorSettings
from .store import AD_ID_KINDS, EventRow, Store, UserRow

__all__ = ["BadQuery", "Dashboard", "Query"]

_DAY_MS = 86_400_000
# Built-in user properties of `s` / `g` (Amplitude's Dashboard REST API page) → the event field holding them.
_BUILTIN_PROPERTIES = {
    "version": "app_version",
    "country": "country",
    "city": "city",
    "region": "region",
    "dma": "dma",
    "language": "language",
    "platform": "platform",
    "os": "os_name",
    "device": "device_model",
    "device_type": "device_model",
    "carrier": "carrier",
    "start_version": "start_version",
    "paying": "paying",
    "user_id": "user_id",
    "device_id": "device_id",
}
_FILTER_OPS = frozenset(
    {"is", "is not", "contains", "does not contain", "less", "less or equal", "greater", "greater or equal"}
    | {"set is", "set is not"}
)
_SEGMENTATION_METRICS = frozenset({"uniques", "totals", "average", "sums", "pct_dau", "value_avg"})
_NONE = "(none)"

Params = dict[str, list[str]]


class BadQuery(Exception):
    """A Dashboard request refused with `status` (400: malformed) and this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Query:
    endpoint: str
    cost: int
    user_lookup: bool
    run: Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class _Prop:
    kind: str  # user | event
    key: str


@dataclass(frozen=True)
class _EventSpec:
    event_type: str
    filters: tuple[tuple[_Prop, str, tuple[Any, ...]], ...] = ()
    group_by: tuple[_Prop, ...] = ()

    @property
    def label(self) -> str:
        return self.event_type[3:] if self.event_type.startswith("ce:") else self.event_type


@dataclass
class _Cell:
    totals: int = 0
    users: set[int] = field(default_factory=set)
    sums: float = 0.0
    valued: int = 0


# ---------------------------------------------------------------------------------------- parsing


def _one(params: Params, name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[-1] if values else default


def _date(params: Params, name: str) -> dt.date:
    raw = _one(params, name)
    if raw is None:
        raise BadQuery(f"missing required parameter {name!r} (YYYYMMDD)")
    try:
        return dt.datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        raise BadQuery(f"parameter {name!r} must be a date YYYYMMDD, got {raw!r}") from None


def _range(params: Params) -> tuple[dt.date, dt.date]:
    start, end = _date(params, "start"), _date(params, "end")
    if end < start:
        raise BadQuery("end is before start")
    return start, end


def _json(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise BadQuery(f"parameter {name!r} is not valid JSON") from None


def _int(params: Params, name: str, default: int, allowed: Iterable[int] | None = None) -> int:
    raw = _one(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"parameter {name!r} must be an integer") from None
    if allowed is not None and value not in set(allowed):
        raise BadQuery(f"parameter {name!r} must be one of {sorted(set(allowed))} in the emulator, got {value}")
    return value


def _prop(kind: str, key: Any) -> _Prop:
    if kind not in ("user", "event") or not isinstance(key, str) or not key:
        raise BadQuery(f"invalid property reference {kind!r} {key!r}")
    return _Prop(kind, key)


def _event_spec(raw: Any, name: str) -> _EventSpec:
    doc = _json(raw, name) if isinstance(raw, str) else raw
    if not isinstance(doc, dict) or not isinstance(doc.get("event_type"), str) or not doc["event_type"]:
        raise BadQuery(f"parameter {name!r} must be a JSON object with an event_type")
    filters = []
    for item in doc.get("filters") or []:
        if not isinstance(item, dict):
            raise BadQuery(f"{name}.filters must be a list of objects")
        op = item.get("subprop_op")
        values = item.get("subprop_value")
        if op not in _FILTER_OPS or not isinstance(values, list):
            raise BadQuery(f"{name}.filters: unknown subprop_op {op!r} or subprop_value not a list")
        filters.append((_prop(str(item.get("subprop_type")), item.get("subprop_key")), str(op), tuple(values)))
    group_by = []
    for item in doc.get("group_by") or []:
        if not isinstance(item, dict):
            raise BadQuery(f"{name}.group_by must be a list of objects")
        group_by.append(_prop(str(item.get("type")), item.get("value")))
    return _EventSpec(doc["event_type"], tuple(filters), tuple(group_by))


def _segments(params: Params) -> tuple[tuple[_Prop, str, tuple[Any, ...]], ...]:
    doc = _json(_one(params, "s"), "s")
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise BadQuery("parameter 's' must be a JSON array of {prop, op, values}")
    conditions = []
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list) or item.get("op") not in _FILTER_OPS:
            raise BadQuery("parameter 's' must be a JSON array of {prop, op, values}")
        if item.get("prop") == "userdata_cohort":
            raise BadQuery("cohort segments are not implemented in the emulator")
        conditions.append((_prop("user", item.get("prop")), str(item["op"]), tuple(item["values"])))
    return tuple(conditions)


def _group_param(params: Params) -> list[_Prop]:
    raw = _one(params, "g")
    return [_prop("user", raw)] if raw else []


def _cost(start: dt.date, end: dt.date, segments: tuple[Any, ...], groups: list[_Prop], type_cost: int) -> int:
    """Amplitude's documented price of a query: days x conditions x the chart type's cost, where the
    conditions are the segment ("Any users", 1) plus each condition within it, and 4 per group-by `g`."""
    conditions = 1 + len(segments) + 4 * len(groups)
    return ((end - start).days + 1) * conditions * type_cost


# -------------------------------------------------------------------------------- evaluation


# Amplitude's revenue properties (HTTP V2 `price`, `quantity`, `revenue`, `productId`, `revenueType`) as
# charts name them; `$revenue` is what Amplitude counts: price x quantity, else revenue.
_REVENUE_PROPERTIES = {
    "$price": "price",
    "$quantity": "quantity",
    "$productId": "productId",
    "$revenueType": "revenueType",
}
# The event types standing for any revenue event (Dashboard REST API page): verified/unverified receipts are not
# modelled, so all three count every event with revenue.
_REVENUE_EVENT_TYPES = frozenset({"revenue_amount", "verified_revenue", "unverified_revenue"})


def _value(row: EventRow, prop: _Prop) -> Any:
    if prop.kind == "event" and prop.key == "$revenue":
        return row.revenue
    if prop.kind == "event" and prop.key in _REVENUE_PROPERTIES:
        return row.event.get(_REVENUE_PROPERTIES[prop.key])
    if prop.kind == "event":
        event_props = row.event.get("event_properties") or {}
        return event_props[prop.key] if prop.key in event_props else row.event.get(prop.key)
    if prop.key.startswith("gp:"):
        return row.user_properties.get(prop.key[3:])
    if prop.key == "amplitude_id":
        return row.amplitude_id
    builtin = _BUILTIN_PROPERTIES.get(prop.key.lower())
    if builtin is not None:
        return row.event.get(builtin)
    return row.user_properties.get(prop.key)


def _text(value: Any) -> str:
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _op_matches(value: Any, op: str, values: tuple[Any, ...]) -> bool:
    wanted = [_text(v) for v in values]
    if op in ("set is", "set is not"):
        have = {_text(v) for v in value} if isinstance(value, list) else {_text(value)}
        return (have == set(wanted)) == (op == "set is")
    items = value if isinstance(value, list) else [value]
    texts = [_text(v) for v in items]
    if op == "is":
        return any(t in wanted for t in texts)
    if op == "is not":
        return not any(t in wanted for t in texts)
    if op in ("contains", "does not contain"):
        hit = any(w.lower() in t.lower() for t in texts for w in wanted)
        return hit == (op == "contains")
    limit = _number(values[0]) if values else None
    numbers = [n for n in (_number(v) for v in items) if n is not None]
    if limit is None or not numbers:
        return False
    compare: dict[str, Callable[[float], bool]] = {
        "less": lambda n: n < limit,
        "less or equal": lambda n: n <= limit,
        "greater": lambda n: n > limit,
        "greater or equal": lambda n: n >= limit,
    }
    return any(compare[op](n) for n in numbers)


def _type_matches(row: EventRow, event_type: str) -> bool:
    if event_type in ("_all", "_active"):
        return True
    if event_type in _REVENUE_EVENT_TYPES:
        return row.revenue is not None and row.revenue != 0
    return row.event_type == (event_type[3:] if event_type.startswith("ce:") else event_type)


def _conditions_hold(row: EventRow, conditions: Iterable[tuple[_Prop, str, tuple[Any, ...]]]) -> bool:
    return all(_op_matches(_value(row, prop), op, values) for prop, op, values in conditions)


def _spec_matches(row: EventRow, spec: _EventSpec) -> bool:
    return _type_matches(row, spec.event_type) and _conditions_hold(row, spec.filters)


# -------------------------------------------------------------------------------------- dashboard


class Dashboard:
    def __init__(self, store: Store, settings: EmulatorSettings) -> None:
        self.store = store
        self.settings = settings

    # ----------------------------------------------------------------------------- time helpers

    def _day(self, ms: int) -> dt.date:
        return dt.datetime.fromtimestamp(ms / 1000 + self.settings.utc_offset_minutes * 60, dt.UTC).date()

    def _day_start_ms(self, day: dt.date) -> int:
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        return int(midnight.timestamp() * 1000) - self.settings.utc_offset_minutes * 60_000

    def _today(self) -> dt.date:
        return self._day(self.store.now_ms())

    def _bucket(self, day: dt.date, interval: int) -> dt.date:
        if interval == 7:
            return day - dt.timedelta(days=(day.weekday() - self.settings.week_starts_on) % 7)
        if interval == 30:
            return day.replace(day=1)
        return day

    def _buckets(self, start: dt.date, end: dt.date, interval: int) -> list[dt.date]:
        days = (end - start).days + 1
        return sorted({self._bucket(start + dt.timedelta(days=n), interval) for n in range(days)})

    def _index(self, bucket: dt.date, origin: dt.date, interval: int) -> int:
        if interval == 30:
            return (bucket.year - origin.year) * 12 + bucket.month - origin.month
        return (bucket - origin).days // (7 if interval == 7 else 1)

    def _events(self, start: dt.date, end: dt.date | None = None) -> list[EventRow]:
        until = self._day_start_ms(end + dt.timedelta(days=1)) if end is not None else None
        return self.store.events(since_ms=self._day_start_ms(start), until_ms=until)

    # ----------------------------------------------------------------------------------- routing

    def prepare(self, path: str, params: Params) -> Query | None:
        """The query for `/api/2/<path>`, or None for an endpoint the emulator does not implement."""
        handler = {
            "events/list": self._events_list,
            "events/segmentation": self._segmentation,
            "funnels": self._funnels,
            "retention": self._retention,
            "useractivity": self._useractivity,
            "usersearch": self._usersearch,
            "revenue/ltv": self._ltv,
            # An OpenAPI description of the API (https://github.com/api-evangelist/amplitude) documents /revenue/day as
            # "Get Revenue LTV Data" for new users by cohort date:
            # the same query as revenue/ltv, with its response shape.
            "revenue/day": self._ltv,
        }.get(path)
        return handler(params) if handler is not None else None

    # --------------------------------------------------------------------------------- events/list

    def _events_list(self, params: Params) -> Query:
        def run() -> dict[str, Any]:
            week_start = self._bucket(self._today(), 7)
            counts: dict[str, int] = {}
            for row in self.store.events():
                counts.setdefault(row.event_type, 0)
                if self._day(row.time) >= week_start:
                    counts[row.event_type] += 1  # `totals` is this week's count [D]
            data = [
                {
                    "value": name,
                    "display": name,
                    "name": name,  # that OpenAPI description's field name; Amplitude's example uses value/display
                    "totals": total,
                    "hidden": False,
                    "deleted": False,
                    "non_active": False,
                    "flow_hidden": False,
                }
                for name, total in sorted(counts.items())
            ]
            return {"data": data}

        return Query("events/list", 1, False, run)

    # ------------------------------------------------------------------------- events/segmentation

    def _segmentation(self, params: Params) -> Query:
        specs = [_event_spec(_one(params, "e"), "e")] if "e" in params else []
        if not specs:
            raise BadQuery("missing required parameter 'e'")
        if "e2" in params:
            specs.append(_event_spec(_one(params, "e2"), "e2"))
        metric = _one(params, "m", "uniques") or "uniques"
        if metric not in _SEGMENTATION_METRICS:
            raise BadQuery(
                f"m={metric!r} is not implemented in the emulator; use one of {sorted(_SEGMENTATION_METRICS)}"
            )
        start, end = _range(params)
        interval = _int(params, "i", 1, (1, 7, 30))
        segments = _segments(params)
        limit = _int(params, "limit", 100)
        if not 1 <= limit <= 1000:
            raise BadQuery("limit must be within 1..1000")
        sum_props: list[_Prop | None] = []
        group_bys: list[list[_Prop]] = []
        chart_groups = _group_param(params)
        type_cost = 0
        for spec in specs:
            groups = list(spec.group_by)
            if metric in ("sums", "value_avg"):
                if not groups:
                    raise BadQuery(f"m={metric} needs the property to aggregate as a group_by of e")
                sum_props.append(groups.pop(0))
            else:
                sum_props.append(None)
            # Per event: 1, plus 4 per group-by of the event (the aggregated property is not a grouping) [U].
            type_cost += 1 + 4 * len(groups)
            groups += chart_groups
            if len(groups) > 2:
                raise BadQuery("at most 2 group-by properties")
            group_bys.append(groups)
        cost = _cost(start, end, segments, chart_groups, type_cost)

        def run() -> dict[str, Any]:
            buckets = self._buckets(start, end, interval)
            position = {b: n for n, b in enumerate(buckets)}
            rows = [r for r in self._events(start, end) if _conditions_hold(r, segments)]
            active: list[set[int]] = [set() for _ in buckets]
            for row in rows:
                active[position[self._bucket(self._day(row.time), interval)]].add(row.amplitude_id)
            series: list[list[float]] = []
            labels: list[Any] = []
            collapsed: list[list[dict[str, Any]]] = []
            for index, spec in enumerate(specs):
                cells: dict[tuple[str, ...], list[_Cell]] = {}
                totals: dict[tuple[str, ...], _Cell] = {}
                if not group_bys[index]:
                    cells[()] = [_Cell() for _ in buckets]
                    totals[()] = _Cell()
                for row in rows:
                    if not _spec_matches(row, spec):
                        continue
                    key = tuple(_text(_value(row, g)) for g in group_bys[index])
                    per_bucket = cells.setdefault(key, [_Cell() for _ in buckets])
                    whole = totals.setdefault(key, _Cell())
                    sum_prop = sum_props[index]
                    amount = _number(_value(row, sum_prop)) if sum_prop is not None else None
                    for cell in (per_bucket[position[self._bucket(self._day(row.time), interval)]], whole):
                        cell.totals += 1
                        cell.users.add(row.amplitude_id)
                        if amount is not None:
                            cell.sums += amount
                            cell.valued += 1
                ranked = sorted(cells, key=lambda k: (-self._metric(metric, totals[k], None), k))[:limit]
                for key in ranked:
                    series.append([self._metric(metric, c, active[n]) for n, c in enumerate(cells[key])])
                    labels.append([index, "; ".join(key)] if group_bys[index] else index)
                    overall = set().union(*active) if active else set()
                    collapsed.append([{"setId": "", "value": self._metric(metric, totals[key], overall)}])
            return {
                "data": {
                    "series": series,
                    "seriesLabels": labels,
                    "seriesCollapsed": collapsed,
                    "xValues": [b.isoformat() for b in buckets],
                }
            }

        return Query("events/segmentation", cost, False, run)

    @staticmethod
    def _metric(metric: str, cell: _Cell, active: set[int] | None) -> float:
        uniques = len(cell.users)
        if metric == "totals":
            return cell.totals
        if metric == "average":  # average number of events per user who did it
            return round(cell.totals / uniques, 6) if uniques else 0.0
        if metric == "sums":
            return round(cell.sums, 6)
        if metric == "value_avg":
            return round(cell.sums / cell.valued, 6) if cell.valued else 0.0
        if metric == "pct_dau":
            return round(100.0 * uniques / len(active), 6) if active else 0.0
        return uniques

    # -------------------------------------------------------------------------------------- funnels

    def _funnels(self, params: Params) -> Query:
        steps = [_event_spec(raw, "e") for raw in params.get("e", [])]
        if not steps:
            raise BadQuery("missing required parameter 'e' (one per funnel step)")
        start, end = _range(params)
        mode = _one(params, "mode", "ordered") or "ordered"
        if mode not in ("ordered", "unordered", "sequential"):
            raise BadQuery("mode must be ordered, unordered or sequential")
        new_only = (_one(params, "n", "active") or "active") == "new"
        interval = _int(params, "i", 1, (1, 7, 30))
        window_ms = _int(params, "cs", 2_592_000) * 1000
        segments = _segments(params)
        groups = _group_param(params)
        if len(groups) > 1:
            raise BadQuery("at most 1 group-by property")
        cost = _cost(start, end, segments, groups, sum(2 + 4 * len(step.group_by) for step in steps))

        def run() -> dict[str, Any]:
            by_user: dict[int, list[EventRow]] = {}
            for row in self.store.events(since_ms=self._day_start_ms(start)):
                by_user.setdefault(row.amplitude_id, []).append(row)
            last_ms = self._day_start_ms(end + dt.timedelta(days=1))
            first_seen = {u.amplitude_id: u.first_seen for u in self.store.users()}
            # (group value, step-1 bucket) -> per user the times of the steps reached
            reached: dict[str, list[tuple[dt.date, list[int]]]] = {}
            for amplitude_id, rows in by_user.items():
                seen = first_seen.get(amplitude_id)
                if new_only and (seen is None or not start <= self._day(seen) <= end):
                    continue
                firsts = [
                    n
                    for n, r in enumerate(rows)
                    if r.time < last_ms and _spec_matches(r, steps[0]) and _conditions_hold(r, segments)
                ]
                if not firsts:
                    continue
                begin = firsts[0]
                times = self._funnel_path(rows, begin, steps, mode, window_ms)
                group = _text(_value(rows[begin], groups[0])) if groups else ""
                bucket = self._bucket(self._day(rows[begin].time), interval)
                reached.setdefault(group, []).append((bucket, times))
            if not reached and not groups:
                reached[""] = []
            buckets = self._buckets(start, end, interval)
            out = []
            for group, paths in sorted(reached.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                element = self._funnel_element(steps, paths, buckets)
                if groups:
                    element["groupValue"] = group
                out.append(element)
            return {"data": out}

        return Query("funnels", cost, False, run)

    @staticmethod
    def _funnel_path(rows: list[EventRow], begin: int, steps: list[_EventSpec], mode: str, window: int) -> list[int]:
        """Times (ms) of the steps a user completed, starting at rows[begin] (step 1)."""
        t0 = rows[begin].time
        times = [t0]
        if mode == "unordered":
            for spec in steps[1:]:
                hit = next((r.time for r in rows[begin:] if r.time <= t0 + window and _spec_matches(r, spec)), None)
                if hit is None:
                    break
                times.append(max(times[-1], hit))
            return times
        cursor = begin
        for spec in steps[1:]:
            candidates = rows[cursor + 1 : cursor + 2] if mode == "sequential" else rows[cursor + 1 :]
            hit = next(
                (cursor + 1 + n for n, r in enumerate(candidates) if r.time <= t0 + window and _spec_matches(r, spec)),
                None,
            )
            if hit is None:
                break
            cursor = hit
            times.append(rows[hit].time)
        return times

    @staticmethod
    def _funnel_element(
        steps: list[_EventSpec], paths: list[tuple[dt.date, list[int]]], buckets: list[dt.date]
    ) -> dict[str, Any]:
        def summary(items: list[list[int]]) -> tuple[list[int], list[float], list[float], list[int], list[int]]:
            raw = [sum(1 for t in items if len(t) > k) for k in range(len(steps))]
            cumulative = [round(r / raw[0], 6) if raw[0] else 0.0 for r in raw]
            by_step = [1.0] + [round(raw[k] / raw[k - 1], 6) if raw[k - 1] else 0.0 for k in range(1, len(steps))]
            medians, means = [0], [0]
            for k in range(1, len(steps)):
                deltas = [t[k] - t[k - 1] for t in items if len(t) > k]
                medians.append(int(statistics.median(deltas)) if deltas else 0)
                means.append(int(statistics.fmean(deltas)) if deltas else 0)
            return raw, cumulative, by_step, medians, means

        raw, cumulative, by_step, medians, means = summary([t for _, t in paths])
        per_day = [summary([t for b, t in paths if b == bucket]) for bucket in buckets]
        x_values = [b.isoformat() for b in buckets]
        formatted = [b.strftime("%b %d") for b in buckets]

        def by_day(column: int) -> dict[str, Any]:
            return {"series": [d[column] for d in per_day], "xValues": x_values, "formattedXValues": formatted}

        return {
            "meta": {"segmentIndex": 0},
            "events": [s.label for s in steps],
            "cumulative": cumulative,
            "cumulativeRaw": raw,
            "stepByStep": by_step,
            "medianTransTimes": medians,
            "avgTransTimes": means,
            "dayFunnels": by_day(0),
            "dayMedianTransTimes": by_day(3),
            "dayAvgTransTimes": by_day(4),
        }

    # ------------------------------------------------------------------------------------ retention

    def _retention(self, params: Params) -> Query:
        if "se" not in params or "re" not in params:
            raise BadQuery("missing required parameter 'se' or 're'")
        start_spec = _event_spec(_one(params, "se"), "se")
        return_spec = _event_spec(_one(params, "re"), "re")
        start, end = _range(params)
        mode = _one(params, "rm", "n-day") or "n-day"
        if mode not in ("n-day", "rolling", "bracket"):
            raise BadQuery("rm must be n-day, rolling or bracket")
        brackets: list[tuple[int, int]] = []
        if mode == "bracket":
            rb = _json(_one(params, "rb"), "rb")
            if (
                not isinstance(rb, list)
                or not rb
                or not all(
                    isinstance(b, list) and len(b) == 2 and all(isinstance(x, int) for x in b) and b[0] <= b[1]
                    for b in rb
                )
            ):
                raise BadQuery("rm=bracket needs rb, a JSON list of [from, to] interval pairs")
            brackets = [(b[0], b[1]) for b in rb]
        interval = _int(params, "i", 1, (1, 7, 30))
        segments = _segments(params)
        groups = _group_param(params)
        if len(groups) > 1:
            raise BadQuery("at most 1 group-by property")
        cost = _cost(start, end, segments, groups, 8)

        def run() -> dict[str, Any]:
            origin = self._bucket(start, interval)
            cohort_buckets = self._buckets(start, end, interval)
            today_index = self._index(self._bucket(self._today(), interval), origin, interval)
            length = len(brackets) if brackets else max(1, min(self.settings.retention_max_intervals, today_index + 1))
            by_user: dict[int, list[EventRow]] = {}
            for row in self.store.events():
                by_user.setdefault(row.amplitude_id, []).append(row)
            # group -> cohort index -> per user the set of interval offsets with a return event
            cohorts: dict[str, dict[int, list[set[int]]]] = {}
            for rows in by_user.values():
                if start_spec.event_type == "_new":
                    anchor = rows[0] if rows and start <= self._day(rows[0].time) <= end else None
                    anchor = anchor if anchor is not None and _conditions_hold(anchor, segments) else None
                else:
                    anchor = next(
                        (
                            r
                            for r in rows
                            if start <= self._day(r.time) <= end
                            and _spec_matches(r, start_spec)
                            and _conditions_hold(r, segments)
                        ),
                        None,
                    )
                if anchor is None:
                    continue
                cohort = self._index(self._bucket(self._day(anchor.time), interval), origin, interval)
                offsets = {
                    self._index(self._bucket(self._day(r.time), interval), origin, interval) - cohort
                    for r in rows
                    if r.time > anchor.time and _spec_matches(r, return_spec)
                }
                group = _text(_value(anchor, groups[0])) if groups else ""
                cohorts.setdefault(group, {}).setdefault(cohort, []).append({o for o in offsets if o >= 1})
            if not cohorts and not groups:
                cohorts[""] = {}
            series, meta = [], []
            for group, per_cohort in sorted(cohorts.items()):
                values: dict[str, list[dict[str, Any]]] = {}
                combined: list[dict[str, Any]] = [
                    {"count": 0, "outof": 0, "incomplete": False, "retainedSetId": None} for _ in range(length)
                ]
                for bucket in sorted(cohort_buckets, reverse=True):
                    index = self._index(bucket, origin, interval)
                    users = per_cohort.get(index, [])
                    row_values = []
                    for n in range(length):
                        lo, hi = brackets[n] if brackets else (n, n)
                        incomplete = index + hi > today_index
                        if (n == 0 and not brackets) or lo == 0:
                            count = len(users)  # interval 0 is the cohort itself
                        elif mode == "rolling":
                            count = sum(1 for offs in users if any(o >= n for o in offs))
                        else:
                            count = sum(1 for offs in users if any(lo <= o <= hi for o in offs))
                        row_values.append({"count": count, "outof": len(users), "incomplete": incomplete})
                        if incomplete:
                            combined[n]["incomplete"] = True
                        else:
                            combined[n]["count"] += count
                            combined[n]["outof"] += len(users)
                    values[bucket.isoformat()] = row_values
                series.append(
                    {
                        "dates": [b.isoformat() for b in sorted(cohort_buckets, reverse=True)],
                        "values": values,
                        "combined": combined,
                    }
                )
                meta.append({"segmentIndex": 0, "eventIndex": 0, **({"groupValue": group} if groups else {})})
            return {"data": {"series": series, "seriesMeta": meta}}

        return Query("retention", cost, False, run)

    # --------------------------------------------------------------------------------- useractivity

    def _useractivity(self, params: Params) -> Query:
        raw = _one(params, "user")
        if raw is None or not raw.isdigit():
            raise BadQuery("parameter 'user' must be an Amplitude ID")
        offset = _int(params, "offset", 0)
        limit = _int(params, "limit", 1000)
        if offset < 0 or not 1 <= limit <= 1000:
            raise BadQuery("offset must be >= 0 and limit within 1..1000")
        direction = _one(params, "direction", "latest") or "latest"
        if direction not in ("latest", "earliest"):
            raise BadQuery("direction must be latest or earliest")

        def run() -> dict[str, Any]:
            user = self.store.user(int(raw))
            if user is None:
                raise BadQuery(f"Amplitude ID {raw} not found", status=self.settings.unknown_user_status)
            rows = self.store.events(amplitude_id=user.amplitude_id)
            ordered = rows if direction == "earliest" else list(reversed(rows))
            return {
                "userData": self._user_data(user, rows),
                "events": [self._event_json(r) for r in ordered[offset : offset + limit]],
            }

        return Query("useractivity", 1, True, run)

    def _user_data(self, user: UserRow, rows: list[EventRow]) -> dict[str, Any]:
        device = user.device
        revenue = [r.revenue for r in rows if r.revenue is not None]
        sessions = {r.event.get("session_id") for r in rows if r.event.get("session_id") not in (None, -1)}
        lat, lng = device.get("location_lat"), device.get("location_lng")
        return {
            "user_id": user.user_id,
            "canonical_amplitude_id": user.amplitude_id,
            "merged_amplitude_ids": user.merged,
            "num_events": len(rows),
            "num_sessions": len(sessions),
            "usage_time": 0,  # the emulator does not model session length [U]
            "first_used": self._day(user.first_seen).isoformat() if user.first_seen is not None else None,
            "last_used": self._day(user.last_seen).isoformat() if user.last_seen is not None else None,
            "purchases": len(revenue),
            "revenue": round(sum(revenue), 6),
            "platform": device.get("platform"),
            "os": " ".join(str(device[k]) for k in ("os_name", "os_version") if device.get(k)) or None,
            "version": device.get("app_version"),
            "device": device.get("device_brand") or device.get("device_manufacturer"),
            "device_type": device.get("device_model"),
            "carrier": device.get("carrier"),
            "country": device.get("country"),
            "region": device.get("region"),
            "city": device.get("city"),
            "dma": device.get("dma"),
            "language": device.get("language"),
            "start_version": device.get("start_version"),
            "device_ids": user.device_ids,
            "last_location": {"lat": lat, "lng": lng} if lat is not None and lng is not None else None,
            "properties": user.properties,
        }

    def _event_json(self, row: EventRow) -> dict[str, Any]:
        event = row.event

        def stamp(ms: int) -> str:
            return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

        return {
            "app": 1,
            "event_id": row.id,
            "event_type": row.event_type,
            "event_time": stamp(row.time),
            "client_event_time": stamp(row.time),
            "server_upload_time": stamp(row.server_time),
            "amplitude_id": row.amplitude_id,
            "user_id": row.user_id,
            "device_id": row.device_id,
            "session_id": event.get("session_id", -1),
            "event_properties": event.get("event_properties") or {},
            "user_properties": row.user_properties,
            "amplitude_event_type": None,
            "version_name": event.get("app_version"),
            "platform": event.get("platform"),
            "os_name": event.get("os_name"),
            "os_version": event.get("os_version"),
            "device_model": event.get("device_model"),
            "country": event.get("country"),
            "region": event.get("region"),
            "city": event.get("city"),
            "language": event.get("language"),
            "location_lat": event.get("location_lat"),
            "location_lng": event.get("location_lng"),
            "ip_address": event.get("ip"),
            "idfa": event.get("idfa"),
            "adid": event.get("adid"),
            "revenue": row.revenue,
            "$insert_id": row.insert_id,
            "data_type": "event",
            # Which API delivered it (not an Amplitude field): lets `verify` tell attribution from SDK events.
            "emulator_source": row.source,
        }

    # ----------------------------------------------------------------------------------- usersearch

    def _usersearch(self, params: Params) -> Query:
        term = _one(params, "user")
        if not term:
            raise BadQuery("missing required parameter 'user'")

        def run() -> dict[str, Any]:
            kind, ids = "nomatch", []
            if term.isdigit() and self.store.user(int(term)) is not None:
                user = self.store.user(int(term))
                kind, ids = "match_amplitude_id", [user.amplitude_id] if user else []
            if not ids:
                ids = sorted(set(self.store.find_users("user_id", term) + self.store.find_users("device_id", term)))
                kind = "match_user_or_device_id" if ids else kind
            if not ids and self.settings.usersearch_advertising_ids:
                ids = sorted({a for k in AD_ID_KINDS for a in self.store.find_users(k, term)})
                kind = "match_advertising_id" if ids else kind
            if not ids:
                ids = self.store.find_users("user_prefix", term)
                kind = "match_user_prefix" if ids else kind
            matches = []
            for amplitude_id in ids:
                user = self.store.user(amplitude_id)
                if user is not None:
                    matches.append({"user_id": user.user_id, "amplitude_id": user.amplitude_id})
            return {"matches": matches, "type": kind}

        return Query("usersearch", 1, True, run)

    # ---------------------------------------------------------------------------------- revenue/ltv

    def _ltv(self, params: Params) -> Query:
        metric = _int(params, "m", 0, (0, 1, 2, 3))
        start, end = _range(params)
        interval = _int(params, "i", 1, (1, 7, 30))
        segments = _segments(params)
        groups = _group_param(params)
        if len(groups) > 1:
            raise BadQuery("at most 1 group-by property")
        cost = _cost(start, end, segments, groups, 1)

        def run() -> dict[str, Any]:
            by_user: dict[int, list[EventRow]] = {}
            for row in self.store.events():
                by_user.setdefault(row.amplitude_id, []).append(row)
            # group -> cohort bucket -> [(ms since first event, revenue)] per new user
            cohorts: dict[str, dict[dt.date, list[list[tuple[int, float]]]]] = {}
            for rows in by_user.values():
                first = rows[0]
                if not start <= self._day(first.time) <= end or not _conditions_hold(first, segments):
                    continue  # LTV is over users new in the range
                group = _text(_value(first, groups[0])) if groups else ""
                bucket = self._bucket(self._day(first.time), interval)
                payments = [(r.time - first.time, r.revenue) for r in rows if r.revenue is not None and r.revenue]
                cohorts.setdefault(group, {}).setdefault(bucket, []).append(payments)
            if not cohorts and not groups:
                cohorts[""] = {}
            buckets = sorted(self._buckets(start, end, interval), reverse=True)
            series, labels = [], []
            for group, per_bucket in sorted(cohorts.items()):
                values = {}
                for bucket in buckets:
                    users = per_bucket.get(bucket, [])
                    cell: dict[str, Any] = {}
                    for days in self.settings.ltv_days:
                        within = [sum(a for t, a in p if t < days * _DAY_MS) for p in users]
                        paying = sum(1 for total in within if total > 0)
                        total = sum(within)
                        cell[f"r{days}d"] = self._ltv_metric(metric, total, len(users), paying)
                    cell["count"] = len(users)
                    cell["paid"] = sum(1 for p in users if p)
                    cell["total_amount"] = round(sum(a for p in users for _, a in p), 6)
                    values[bucket.isoformat()] = cell
                series.append({"dates": [b.isoformat() for b in buckets], "values": values})
                labels.append(group if groups else 0)
            return {"data": {"seriesLabels": labels, "series": series}}

        return Query("revenue/ltv", cost, False, run)

    @staticmethod
    def _ltv_metric(metric: int, total: float, users: int, paying: int) -> float:
        if metric == 0:
            return round(total / users, 6) if users else 0.0  # ARPU
        if metric == 1:
            return round(total / paying, 6) if paying else 0.0  # ARPPU
        if metric == 2:
            return round(total, 6)
        return paying
