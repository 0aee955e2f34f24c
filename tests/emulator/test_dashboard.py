"""Dashboard REST API over stored data: response shapes (docs/emulator.md), values, errors and limits."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests

from postback_relay_tools.emulator import AmplitudeEmulator

from .conftest import DAY, KEY, SECRET, T0, Client, Clock, make_emulator

IDFA = "AEBE52E7-03EE-455A-B3C4-E57283966239"
HOUR_MS = 3_600_000
CAMPAIGN = "gp:[Adjust] campaign"


def at(day: int, hours: float) -> int:
    """ms of `hours` into the day `day` days from 2025-11-21 (UTC)."""
    return int((T0 + day * DAY) * 1000 + hours * HOUR_MS)


def seed(client: Client) -> dict[str, int]:
    """Three users over 2025-11-18 … 2025-11-21; user-1 came from an attributed install (campaign spring)."""
    attribution = {
        "event_type": "[Adjust] Install",
        "platform": "ios",
        "idfa": IDFA,
        "time": at(-3, 0.5),
        "user_properties": {"[Adjust] campaign": "spring", "[Adjust] media source": "facebook"},
    }
    assert client.attribution(attribution).status_code == 200
    u1 = {"user_id": "user-1", "device_id": "dev-0001", "platform": "iOS"}
    u2 = {"user_id": "user-2", "device_id": "dev-0002", "platform": "Android"}
    u3 = {"user_id": "user-3", "device_id": "dev-0003", "platform": "Android"}
    response = client.events(
        {**u1, "event_type": "open", "time": at(-3, 1), "idfa": IDFA},
        {**u1, "event_type": "purchase", "time": at(-3, 2), "revenue": 5.0},
        {**u1, "event_type": "open", "time": at(-2, 1), "event_properties": {"screen": "home"}},
        {**u1, "event_type": "open", "time": at(0, 1)},
        {**u2, "event_type": "open", "time": at(-3, 3)},
        {**u2, "event_type": "open", "time": at(-1, 1), "event_properties": {"screen": "shop"}},
        {**u3, "event_type": "open", "time": at(-2, 1)},
        {**u3, "event_type": "purchase", "time": at(-2, 2), "price": 5.0, "quantity": 2},
    )
    assert response.status_code == 200, response.text
    client.emu.clock.advance(12 * 3600)  # type: ignore[attr-defined]
    return {u.user_id or "": u.amplitude_id for u in client.emu.store.users()}


@pytest.fixture
def ids(client: Client) -> dict[str, int]:
    return seed(client)


RANGE: dict[str, Any] = {"start": "20251118", "end": "20251121"}


# ------------------------------------------------------------------------------------ auth and errors


@pytest.mark.parametrize("auth", [None, (KEY, "wrong"), ("other", SECRET)])
def test_basic_auth_required(client: Client, auth: tuple[str, str] | None) -> None:
    response = client.get("usersearch", auth=auth, user="user-1")
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("events/segmentation", {"e": '{"event_type": "open"', **RANGE}),  # malformed e
        ("events/segmentation", {"e": '{"event_type": "open"}', "s": "[{", **RANGE}),  # malformed s
        ("events/segmentation", {"e": '{"event_type": "open"}', "s": '[{"prop": "country"}]', **RANGE}),
        ("events/segmentation", {"e": '{"event_type": "open"}', "start": "20251118"}),  # no end
        ("events/segmentation", {"e": '{"event_type": "open"}', "start": "2025-11-18", "end": "20251121"}),
        ("events/segmentation", {"e": '{"event_type": "open"}', "m": "histogram", **RANGE}),
        ("events/segmentation", {"e": '{"event_type": "open"}', "i": "2", **RANGE}),
        ("events/segmentation", {**RANGE}),  # no e
        ("funnels", {**RANGE}),
        ("retention", {"se": '{"event_type": "_new"}', **RANGE}),
        ("retention", {"se": '{"event_type": "_new"}', "re": '{"event_type": "open"}', "rm": "bracket", **RANGE}),
        ("revenue/ltv", {"m": "7", **RANGE}),
        ("revenue/ltv", {"end": "20251121"}),
        ("useractivity", {"user": "user-1"}),  # not an Amplitude ID
        ("usersearch", {}),
    ],
)
def test_malformed_parameters_400(client: Client, path: str, params: dict[str, Any]) -> None:
    response = client.get(path, **params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


@pytest.mark.parametrize("path", ["sessions/length", "users", "composition"])
def test_unimplemented_endpoints_say_so(client: Client, path: str) -> None:
    response = client.get(path, **RANGE)
    assert response.status_code == 404
    assert "not implemented in the emulator" in response.json()["error"]


# ------------------------------------------------------------------------------------ user lookups


def test_usersearch(client: Client, ids: dict[str, int]) -> None:
    assert client.query("usersearch", user="user-1") == {
        "matches": [{"user_id": "user-1", "amplitude_id": ids["user-1"]}],
        "type": "match_user_or_device_id",
    }
    assert client.query("usersearch", user="dev-0002")["matches"][0]["user_id"] == "user-2"
    by_id = client.query("usersearch", user=str(ids["user-3"]))
    assert (by_id["type"], by_id["matches"][0]["user_id"]) == ("match_amplitude_id", "user-3")
    prefix = client.query("usersearch", user="user-")
    assert prefix["type"] == "match_user_prefix"
    assert [m["user_id"] for m in prefix["matches"]] == ["user-1", "user-2", "user-3"]
    assert client.query("usersearch", user="nobody") == {"type": "nomatch", "matches": []}
    assert client.query("usersearch", user=IDFA)["type"] == "nomatch"  # not a documented search key


def test_usersearch_advertising_ids_setting(clock: Clock, http: requests.Session) -> None:
    with make_emulator(clock, usersearch_advertising_ids=True) as emu:
        client = Client(emu, http)
        ids = seed(client)
        assert client.query("usersearch", user=IDFA) == {
            "matches": [{"user_id": "user-1", "amplitude_id": ids["user-1"]}],
            "type": "match_advertising_id",
        }


def test_useractivity(client: Client, ids: dict[str, int]) -> None:
    body = client.query("useractivity", user=ids["user-1"])
    assert set(body) == {"userData", "events"}
    data = body["userData"]
    assert data["user_id"] == "user-1"
    assert data["canonical_amplitude_id"] == ids["user-1"]
    assert (data["num_events"], data["purchases"], data["revenue"]) == (5, 1, 5.0)
    assert (data["first_used"], data["last_used"]) == ("2025-11-18", "2025-11-21")
    assert data["device_ids"] == ["dev-0001"]
    assert data["platform"] == "iOS"
    assert data["properties"] == {"[Adjust] campaign": "spring", "[Adjust] media source": "facebook"}
    assert {"merged_amplitude_ids", "num_sessions", "usage_time", "country", "last_location"} <= set(data)
    events = body["events"]
    assert [e["event_type"] for e in events] == ["open", "open", "purchase", "open", "[Adjust] Install"]
    assert events[0]["event_time"] == "2025-11-21 01:00:00.000000"
    assert events[-1]["user_properties"]["[Adjust] campaign"] == "spring"
    assert {"event_type", "event_time", "user_id", "device_id", "amplitude_id", "event_properties"} <= set(events[0])
    earliest = client.query("useractivity", user=ids["user-1"], direction="earliest", offset=1, limit=2)
    assert [e["event_type"] for e in earliest["events"]] == ["open", "purchase"]
    unknown = client.get("useractivity", user="999")
    assert unknown.status_code == 400


# ----------------------------------------------------------------------------------- events/list


def test_events_list(client: Client, ids: dict[str, int]) -> None:
    data = client.query("events/list")["data"]
    assert [(d["value"], d["totals"]) for d in data] == [("[Adjust] Install", 1), ("open", 6), ("purchase", 2)]
    for item in data:
        assert set(item) >= {"value", "display", "totals", "hidden", "deleted", "non_active", "flow_hidden"}
        assert item["name"] == item["display"] == item["value"]
    client.emu.clock.advance(7 * DAY)  # type: ignore[attr-defined]
    assert {d["totals"] for d in client.query("events/list")["data"]} == {0}  # totals is this week's count


# -------------------------------------------------------------------------------- segmentation


def segmentation(client: Client, e: dict[str, Any], **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = client.query("events/segmentation", e=json.dumps(e), **{**RANGE, **params})["data"]
    assert set(data) == {"series", "seriesLabels", "seriesCollapsed", "xValues"}
    assert all(len(s) == len(data["xValues"]) for s in data["series"])
    return data


def test_segmentation_metrics(client: Client, ids: dict[str, int]) -> None:
    uniques = segmentation(client, {"event_type": "open"})
    assert uniques["xValues"] == ["2025-11-18", "2025-11-19", "2025-11-20", "2025-11-21"]
    assert uniques["series"] == [[2, 2, 1, 1]]
    assert uniques["seriesLabels"] == [0]
    assert uniques["seriesCollapsed"] == [[{"setId": "", "value": 3}]]
    totals = segmentation(client, {"event_type": "ce:open"}, m="totals")
    assert (totals["series"], totals["seriesCollapsed"][0][0]["value"]) == ([[2, 2, 1, 1]], 6)
    average = segmentation(client, {"event_type": "open"}, m="average")
    assert (average["series"], average["seriesCollapsed"][0][0]["value"]) == ([[1.0, 1.0, 1.0, 1.0]], 2.0)
    sums = segmentation(
        client, {"event_type": "purchase", "group_by": [{"type": "event", "value": "revenue"}]}, m="sums"
    )
    assert sums["series"] == [[5.0, 0.0, 0.0, 0.0]]  # user-3 paid with price x quantity, no revenue field
    all_events = segmentation(client, {"event_type": "_active"}, m="totals")
    assert all_events["series"] == [[4, 3, 1, 1]]


def test_segmentation_group_by_user_and_event_property(client: Client, ids: dict[str, int]) -> None:
    grouped = segmentation(client, {"event_type": "open"}, g=CAMPAIGN)
    assert grouped["seriesLabels"] == [[0, "(none)"], [0, "spring"]]
    assert grouped["series"] == [[1, 1, 1, 0], [1, 1, 0, 1]]
    assert [c[0]["value"] for c in grouped["seriesCollapsed"]] == [2, 1]
    by_screen = segmentation(
        client, {"event_type": "open", "group_by": [{"type": "event", "value": "screen"}]}, m="totals", limit="2"
    )
    assert by_screen["seriesLabels"] == [[0, "(none)"], [0, "home"]]  # limit keeps the 2 largest groups


def test_segmentation_segments_filters_and_intervals(client: Client, ids: dict[str, int]) -> None:
    spring = json.dumps([{"prop": CAMPAIGN, "op": "is", "values": ["spring"]}])
    assert segmentation(client, {"event_type": "open"}, m="totals", s=spring)["series"] == [[1, 1, 0, 1]]
    android = json.dumps([{"prop": "platform", "op": "is", "values": ["Android"]}])
    assert segmentation(client, {"event_type": "open"}, s=android)["series"] == [[1, 1, 1, 0]]
    shop = {
        "event_type": "open",
        "filters": [{"subprop_type": "event", "subprop_key": "screen", "subprop_op": "is", "subprop_value": ["shop"]}],
    }
    assert segmentation(client, shop, m="totals")["series"] == [[0, 0, 1, 0]]
    weekly = segmentation(client, {"event_type": "open"}, i="7")
    assert (weekly["xValues"], weekly["series"]) == (["2025-11-16"], [[3]])  # weeks start on Sunday
    monthly = segmentation(client, {"event_type": "open"}, i="30")
    assert monthly["xValues"] == ["2025-11-01"]
    two = segmentation(client, {"event_type": "open"}, e2=json.dumps({"event_type": "purchase"}))
    assert two["seriesLabels"] == [0, 1]
    assert two["series"][1] == [1, 1, 0, 0]


# ---------------------------------------------------------------------------------- funnels


def test_funnels(client: Client, ids: dict[str, int]) -> None:
    steps = [json.dumps({"event_type": "open"}), json.dumps({"event_type": "purchase"})]
    (funnel,) = client.query("funnels", e=steps, **RANGE)["data"]
    assert funnel["meta"] == {"segmentIndex": 0}
    assert funnel["events"] == ["open", "purchase"]
    assert funnel["cumulativeRaw"] == [3, 2]
    assert funnel["cumulative"] == [1.0, 0.666667]
    assert funnel["stepByStep"] == [1.0, 0.666667]
    assert funnel["medianTransTimes"] == funnel["avgTransTimes"] == [0, HOUR_MS]
    assert funnel["dayFunnels"]["xValues"] == ["2025-11-18", "2025-11-19", "2025-11-20", "2025-11-21"]
    assert funnel["dayFunnels"]["series"] == [[2, 1], [1, 1], [0, 0], [0, 0]]
    assert set(funnel["dayMedianTransTimes"]) == {"series", "xValues", "formattedXValues"}
    grouped = client.query("funnels", e=steps, g=CAMPAIGN, **RANGE)["data"]
    assert [(g["groupValue"], g["cumulativeRaw"]) for g in grouped] == [("(none)", [2, 1]), ("spring", [1, 1])]
    short = client.query("funnels", e=steps, cs="60", **RANGE)["data"][0]
    assert short["cumulativeRaw"] == [3, 0]  # conversion window of 60 s


# -------------------------------------------------------------------------------- retention


def retention(client: Client, **params: Any) -> dict[str, Any]:
    base = {"se": json.dumps({"event_type": "_new"}), "re": json.dumps({"event_type": "open"})}
    data: dict[str, Any] = client.query("retention", **{**base, "start": "20251118", "end": "20251119", **params})[
        "data"
    ]
    assert data["seriesMeta"] == [{"segmentIndex": 0, "eventIndex": 0}]
    return data


def test_retention_n_day(client: Client, ids: dict[str, int]) -> None:
    (series,) = retention(client)["series"]
    assert series["dates"] == ["2025-11-19", "2025-11-18"]
    counts = {d: [(v["count"], v["outof"], v["incomplete"]) for v in row] for d, row in series["values"].items()}
    assert counts["2025-11-18"] == [(2, 2, False), (1, 2, False), (1, 2, False), (1, 2, False)]
    assert counts["2025-11-19"] == [(1, 1, False), (0, 1, False), (0, 1, False), (0, 1, True)]
    assert [(c["count"], c["outof"]) for c in series["combined"]] == [(3, 3), (1, 3), (1, 3), (1, 2)]
    assert series["combined"][3]["incomplete"] is True


def test_retention_rolling_and_bracket(client: Client, ids: dict[str, int]) -> None:
    (rolling,) = retention(client, rm="rolling")["series"]
    assert [v["count"] for v in rolling["values"]["2025-11-18"]] == [2, 2, 2, 1]
    (bracket,) = retention(client, rm="bracket", rb="[[1, 2], [3, 3]]")["series"]
    assert [v["count"] for v in bracket["values"]["2025-11-18"]] == [2, 1]


# ----------------------------------------------------------------------------------- revenue/ltv


def test_revenue_ltv(client: Client, ids: dict[str, int]) -> None:
    params = {"start": "20251118", "end": "20251119"}
    data = client.query("revenue/ltv", m="2", **params)["data"]
    assert data["seriesLabels"] == [0]
    (series,) = data["series"]
    assert series["dates"] == ["2025-11-19", "2025-11-18"]
    day18, day19 = series["values"]["2025-11-18"], series["values"]["2025-11-19"]
    assert {"r1d", "r7d", "r30d", "r90d", "count", "paid", "total_amount"} <= set(day18)
    assert (day18["r1d"], day18["count"], day18["paid"], day18["total_amount"]) == (5.0, 2, 1, 5.0)
    assert (day19["r1d"], day19["count"]) == (10.0, 1)  # price x quantity
    arpu = client.query("revenue/ltv", m="0", **params)["data"]["series"][0]["values"]["2025-11-18"]
    arppu = client.query("revenue/ltv", m="1", **params)["data"]["series"][0]["values"]["2025-11-18"]
    paying = client.query("revenue/ltv", m="3", **params)["data"]["series"][0]["values"]["2025-11-18"]
    assert (arpu["r1d"], arppu["r1d"], paying["r1d"]) == (2.5, 5.0, 1)


def test_revenue_day_is_ltv_by_cohort_date(client: Client, ids: dict[str, int]) -> None:
    params = {"start": "20251118", "end": "20251119", "m": "2"}
    assert client.query("revenue/day", **params) == client.query("revenue/ltv", **params)


# ------------------------------------------------------------------------------------- limits


def test_concurrency_limit_429(clock: Clock, http: requests.Session) -> None:
    entered, release = threading.Event(), threading.Event()
    with make_emulator(clock, max_concurrent_queries=1) as emu:

        def hold(endpoint: str) -> None:
            entered.set()
            release.wait(5)

        emu.on_query = hold
        first: list[int] = []
        worker = threading.Thread(
            target=lambda: first.append(Client(emu, requests.Session()).get("events/list").status_code)
        )
        worker.start()
        assert entered.wait(5)
        emu.on_query = None
        response = Client(emu, http).get("events/list")
        release.set()
        worker.join(5)
        assert response.status_code == 429
        assert response.json()["limit"] == "concurrent_requests"
        assert first == [200]
        assert Client(emu, http).get("events/list").status_code == 200  # the slot was released


def test_cost_budgets_429(clock: Clock, http: requests.Session) -> None:
    with make_emulator(clock, cost_per_5_minutes=10) as emu:
        client = Client(emu, http)
        e = json.dumps({"event_type": "open"})
        # cost = 4 days x 1 condition x 1 event = 4
        assert [client.get("events/segmentation", e=e, **RANGE).status_code for _ in range(3)] == [200, 200, 429]
        refused = client.get("events/segmentation", e=e, **RANGE).json()
        assert refused["limit"] == "cost_per_5_minutes"
        grouped = client.get("events/segmentation", e=e, g=CAMPAIGN, **RANGE)  # 4 x (1 + 4) = 20
        clock.advance(300)
        assert client.get("events/segmentation", e=e, **RANGE).status_code == 200
        assert grouped.status_code == 429
    with make_emulator(clock, cost_per_hour=5) as emu:
        client = Client(emu, http)
        assert client.get("events/segmentation", e=e, **RANGE).status_code == 200
        clock.advance(600)
        assert client.get("events/segmentation", e=e, **RANGE).json()["limit"] == "cost_per_hour"
        clock.advance(3000)
        assert client.get("events/segmentation", e=e, **RANGE).status_code == 200


def test_user_lookup_limit_429(clock: Clock, http: requests.Session) -> None:
    with make_emulator(clock, user_lookups_per_hour=2) as emu:
        client = Client(emu, http)
        statuses = [client.get("usersearch", user="x").status_code, client.get("useractivity", user="1").status_code]
        assert statuses == [200, 400]  # a 400 for an unknown user still counted
        refused = client.get("usersearch", user="x")
        assert (refused.status_code, refused.json()["limit"]) == (429, "user_lookups_per_hour")
        assert client.get("events/list").status_code == 200  # other endpoints are not lookups
        clock.advance(3600)
        assert client.get("usersearch", user="x").status_code == 200


def test_dashboard_over_sqlite_file(tmp_path: Any, clock: Clock, http: requests.Session) -> None:
    db = str(tmp_path / "project.sqlite")
    with AmplitudeEmulator(api_key=KEY, secret_key=SECRET, clock=clock, db=db) as first:
        Client(first, http).events({"event_type": "open", "user_id": "user-9"})
        first.store.close()
    with AmplitudeEmulator(api_key=KEY, secret_key=SECRET, clock=clock, db=db) as second:
        assert Client(second, http).query("usersearch", user="user-9")["type"] == "match_user_or_device_id"
        second.store.close()
