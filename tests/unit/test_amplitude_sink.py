"""The local Amplitude stand-in, exercised over real loopback HTTP with `requests`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan, Received

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

KEY = "test-key"
IDFA = "AEBE52E7-03EE-455A-B3C4-E57283966239"
ADID = "38400000-8cf0-11bd-b23e-10b96e40000d"
ZERO = "00000000-0000-0000-0000-000000000000"
T_MS = 1_700_000_000_123


@pytest.fixture
def sink() -> Iterator[AmplitudeSink]:
    with AmplitudeSink(api_key=KEY) as s:
        yield s


@pytest.fixture
def session() -> Iterator[requests.Session]:
    # A keep-alive session, like the relay's: also proves Content-Length framing works across requests.
    with requests.Session() as s:
        yield s


def ios_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": "[Adjust] Install",
        "platform": "ios",
        "idfa": IDFA,
        "time": T_MS,
        "user_properties": {"[Adjust] media source": "facebook"},
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def android_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"event_type": "[Adjust] Install", "platform": "android", "adid": ADID}
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def post_attribution(
    session: requests.Session, sink: AmplitudeSink, event: Any, api_key: str = KEY
) -> requests.Response:
    return session.post(f"{sink.url}/attribution", data={"api_key": api_key, "event": json.dumps(event)}, timeout=5)


def post_identify(session: requests.Session, sink: AmplitudeSink, identification: Any) -> requests.Response:
    return session.post(
        f"{sink.url}/identify",
        data={"api_key": KEY, "identification": json.dumps(identification)},
        timeout=5,
    )


def post_httpapi(
    session: requests.Session, sink: AmplitudeSink, events: list[dict[str, Any]], api_key: str = KEY
) -> requests.Response:
    return session.post(f"{sink.url}/2/httpapi", json={"api_key": api_key, "events": events}, timeout=5)


# ------------------------------------------------------------------------------------- attribution


def test_ios_and_android_attribution_accepted(sink: AmplitudeSink, session: requests.Session) -> None:
    r1 = post_attribution(session, sink, ios_event())
    r2 = post_attribution(session, sink, android_event(adid=None, android_app_set_id=ADID))
    assert (r1.status_code, r1.text) == (200, "success")
    assert r1.headers["Content-Type"].startswith("text/plain")
    assert (r2.status_code, r2.text) == (200, "success")
    got = sink.received("attribution")
    assert [r.payload["platform"] for r in got] == ["ios", "android"]
    assert got[0].payload == ios_event()
    assert sink.rejected() == []
    assert sink.requests_seen() == 2


def test_idfv_alone_is_enough_for_ios(sink: AmplitudeSink, session: requests.Session) -> None:
    assert post_attribution(session, sink, ios_event(idfa=None, idfv=IDFA)).status_code == 200


def test_query_string_form_accepted(sink: AmplitudeSink, session: requests.Session) -> None:
    # The Android example of Amplitude's Attribution API page puts both parameters in the query string of a POST.
    params = {"api_key": KEY, "event": json.dumps(android_event())}
    r = session.post(f"{sink.url}/attribution", params=params, timeout=5)
    assert (r.status_code, r.text) == (200, "success")
    assert sink.received("attribution")[0].payload == android_event()


@pytest.mark.parametrize(
    ("event", "reason_part"),
    [
        pytest.param(ios_event(event_type=None), "event_type", id="no-event_type"),
        pytest.param(ios_event(event_type=""), "event_type", id="empty-event_type"),
        pytest.param(ios_event(platform=None), "platform", id="no-platform"),
        pytest.param(ios_event(platform="iOS"), "platform", id="mixed-case-platform"),
        pytest.param(ios_event(platform="web"), "platform", id="web-platform"),
        pytest.param(ios_event(idfa=None), "idfa or idfv", id="ios-without-ids"),
        pytest.param(ios_event(idfa=""), "idfa or idfv", id="ios-empty-idfa"),
        pytest.param(android_event(adid=None), "adid or android_app_set_id", id="android-without-ids"),
        pytest.param(android_event(adid=None, idfa=IDFA), "adid or android_app_set_id", id="android-idfa"),
        pytest.param(ios_event(time="2024-01-01T00:00:00Z"), "integer", id="time-string"),
        pytest.param(ios_event(time=1_700_000_000), "seconds", id="time-seconds"),
        pytest.param(ios_event(time=1.7e12), "integer", id="time-float"),
        pytest.param(ios_event(idfa=ZERO), "relay bug", id="zero-idfa"),
        pytest.param(android_event(adid="{gps_adid}"), "relay bug", id="macro-adid"),
        pytest.param(ios_event(idfv="{idfv}"), "relay bug", id="macro-idfv-beside-good-idfa"),
        pytest.param(ios_event(idfa=123), "must be a string", id="numeric-idfa"),
        pytest.param(ios_event(user_properties=["x"]), "user_properties", id="user_properties-list"),
        pytest.param([ios_event()], "not an array", id="array"),
        pytest.param("just a string", "JSON object", id="json-string"),
    ],
)
def test_attribution_rule_violations_rejected(
    sink: AmplitudeSink, session: requests.Session, event: Any, reason_part: str
) -> None:
    r = post_attribution(session, sink, event)
    assert r.status_code == 400
    assert reason_part in r.text
    assert sink.received() == []
    [rejected] = sink.rejected()
    assert rejected.endpoint == "attribution"
    assert rejected.reason is not None
    assert reason_part in rejected.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"event": json.dumps(ios_event())}, "missing api_key"),
        ({"api_key": KEY}, "missing event"),
        ({"api_key": KEY, "event": ""}, "missing event"),
        ({"api_key": "wrong", "event": json.dumps(ios_event())}, "invalid api_key"),
        ({"api_key": KEY, "event": "{not json"}, "not valid JSON"),
    ],
)
def test_attribution_parameter_errors(
    sink: AmplitudeSink, session: requests.Session, data: dict[str, str], reason: str
) -> None:
    r = session.post(f"{sink.url}/attribution", data=data, timeout=5)
    assert r.status_code == 400  # Amplitude answers a bad key with 400, not 401
    assert reason in r.text
    assert sink.received() == []


def test_attribution_json_body_rejected_by_default(sink: AmplitudeSink, session: requests.Session) -> None:
    r = session.post(f"{sink.url}/attribution", json={"api_key": KEY, "event": ios_event()}, timeout=5)
    assert r.status_code == 400
    assert r.text == "attribution expects form fields api_key and event"
    assert sink.received() == []


def test_attribution_json_body_allowed_by_flag(session: requests.Session) -> None:
    with AmplitudeSink(api_key=KEY, accept_json_attribution=True) as sink:
        r = session.post(f"{sink.url}/attribution", json={"api_key": KEY, "event": ios_event()}, timeout=5)
        assert r.status_code == 200
        assert sink.received()[0].payload == ios_event()


def test_attribution_body_without_form_content_type_rejected(sink: AmplitudeSink, session: requests.Session) -> None:
    body = f"api_key={KEY}&event=x"
    r = session.post(f"{sink.url}/attribution", data=body, headers={"Content-Type": "text/plain"}, timeout=5)
    assert r.status_code == 400
    assert "Content-Type" in r.text


def test_attribution_duplicate_parameter_rejected(sink: AmplitudeSink, session: requests.Session) -> None:
    r = session.post(
        f"{sink.url}/attribution",
        params={"api_key": KEY},
        data={"api_key": KEY, "event": json.dumps(ios_event())},
        timeout=5,
    )
    assert r.status_code == 400
    assert "more than once" in r.text


def test_platform_case_insensitive_flag(session: requests.Session) -> None:
    with AmplitudeSink(api_key=KEY, platform_case_insensitive=True) as sink:
        assert post_attribution(session, sink, ios_event(platform="iOS")).status_code == 200


def test_attribution_get_not_allowed(sink: AmplitudeSink, session: requests.Session) -> None:
    r = session.get(f"{sink.url}/attribution", params={"api_key": KEY}, timeout=5)
    assert r.status_code == 405


# ---------------------------------------------------------------------------------------- identify


def test_identify_object_and_array_accepted(sink: AmplitudeSink, session: requests.Session) -> None:
    one = {"user_id": "user-123", "user_properties": {"plan": "paid"}}
    many = [
        {"device_id": IDFA, "user_properties": {"$set": {"a": 1}, "$setOnce": {"b": 2}}},
        {"user_id": "user-456", "user_properties": {"$clearAll": "-"}},
    ]
    r1 = post_identify(session, sink, one)
    r2 = post_identify(session, sink, many)
    assert (r1.status_code, r1.text) == (200, "success")
    assert (r2.status_code, r2.text) == (200, "success")
    assert [r.payload for r in sink.received("identify")] == [one, *many]


def test_identify_via_get_query(sink: AmplitudeSink, session: requests.Session) -> None:
    ident = {"user_id": "user-123", "user_properties": {"$add": {"logins": 1}}}
    r = session.get(f"{sink.url}/identify", params={"api_key": KEY, "identification": json.dumps(ident)}, timeout=5)
    assert r.status_code == 200
    assert sink.received("identify")[0].payload == ident


def test_identify_multipart_form_accepted(sink: AmplitudeSink, session: requests.Session) -> None:
    ident = {"user_id": "user-123", "user_properties": {"plan": "paid"}}
    files = {"api_key": (None, KEY), "identification": (None, json.dumps(ident))}
    r = session.post(f"{sink.url}/identify", files=files, timeout=5)
    assert r.status_code == 200, r.text
    assert sink.received("identify")[0].payload == ident


@pytest.mark.parametrize(
    ("identification", "reason_part"),
    [
        pytest.param({"user_id": "u-123", "user_properties": {"$set": {"a": 1}, "plan": "paid"}}, "mixes",
                     id="operator-mixed-with-plain"),
        pytest.param({"user_id": "u-123", "user_properties": {"$bogus": {"a": 1}}}, "mixes", id="unknown-op"),
        pytest.param({"user_id": "u-123", "user_properties": {"$set": "paid"}}, "$set must be", id="op-scalar"),
        pytest.param({"user_properties": {"a": 1}}, "user_id or device_id", id="no-ids"),
        pytest.param({"user_id": "", "user_properties": {"a": 1}}, "user_id or device_id", id="empty-id"),
        pytest.param({"user_id": "u-123"}, "user_properties", id="no-user_properties"),
        pytest.param({"device_id": ZERO, "user_properties": {"a": 1}}, "relay bug", id="zero-device"),
        pytest.param([{"user_id": "u-123", "user_properties": {}}, {"user_properties": {}}],
                     "identification[1]", id="bad-item-in-array"),
    ],
)  # fmt: skip
def test_identify_rule_violations_rejected(
    sink: AmplitudeSink, session: requests.Session, identification: Any, reason_part: str
) -> None:
    r = post_identify(session, sink, identification)
    assert r.status_code == 400
    assert reason_part in r.text
    assert sink.received() == []
    assert sink.rejected()[0].endpoint == "identify"


@pytest.mark.parametrize("raw", ["", "{oops", "[]", "42", '["not an object"]'])
def test_identify_missing_or_unparseable_identification(
    sink: AmplitudeSink, session: requests.Session, raw: str
) -> None:
    r = session.post(f"{sink.url}/identify", data={"api_key": KEY, "identification": raw}, timeout=5)
    assert (r.status_code, r.text) == (400, "missing_event")


def test_identify_wrong_key(sink: AmplitudeSink, session: requests.Session) -> None:
    ident = json.dumps({"user_id": "u-123", "user_properties": {}})
    r = session.post(f"{sink.url}/identify", data={"api_key": "nope", "identification": ident}, timeout=5)
    assert (r.status_code, r.text) == (400, "invalid api_key")


# ----------------------------------------------------------------------------------------- httpapi


def test_httpapi_accepted_with_documented_body(sink: AmplitudeSink, session: requests.Session) -> None:
    events = [
        {"event_type": "install", "device_id": IDFA, "time": T_MS, "insert_id": "a-1"},
        {"event_type": "purchase", "user_id": "user-123", "revenue": 9.99, "price": 9.99, "quantity": 1},
    ]
    r = post_httpapi(session, sink, events)
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 200
    assert body["events_ingested"] == 2
    assert body["payload_size_bytes"] == len(r.request.body or b"")
    assert isinstance(body["server_upload_time"], int)
    assert body["server_upload_time"] > T_MS
    got = sink.received("httpapi")
    assert [r.payload for r in got] == events
    assert got[0].insert_id == "a-1"
    assert got[1].insert_id is None


def test_httpapi_gzip_body(sink: AmplitudeSink, session: requests.Session) -> None:
    raw = json.dumps({"api_key": KEY, "events": [{"event_type": "e", "device_id": IDFA}]}).encode()
    r = session.post(
        f"{sink.url}/2/httpapi",
        data=gzip.compress(raw),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=5,
    )
    assert r.status_code == 200
    assert len(sink.received("httpapi")) == 1


def test_httpapi_insert_id_dedup(sink: AmplitudeSink, session: requests.Session) -> None:
    event = {"event_type": "install", "device_id": IDFA, "insert_id": "dup-1"}
    other_device = {**event, "device_id": ADID}  # same insert_id, different device scope: a new event
    assert post_httpapi(session, sink, [event]).json()["events_ingested"] == 1
    r = post_httpapi(session, sink, [event, other_device])
    assert r.status_code == 200
    assert r.json()["events_ingested"] == 2  # the repeat still counts as accepted...
    got = sink.received("httpapi")
    assert [e.payload["device_id"] for e in got] == [IDFA, ADID]  # ...but is stored once


def test_httpapi_missing_ids_body_shape(sink: AmplitudeSink, session: requests.Session) -> None:
    events = [
        {"event_type": "ok", "device_id": IDFA},
        {"event_type": "no ids"},
        {"event_type": "short id only", "user_id": "abc"},
    ]
    r = post_httpapi(session, sink, events)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 400
    assert body["error"] == "Request missing required field"
    assert body["events_with_missing_fields"] == {"user_id": [1, 2], "device_id": [1, 2]}
    assert body["events_with_invalid_fields"] == {}
    assert body["events_with_invalid_id_lengths"] == {"user_id": [2]}
    assert sink.received() == []
    assert sink.rejected()[0].endpoint == "httpapi"


def test_httpapi_short_id_stripped_when_other_id_present(sink: AmplitudeSink, session: requests.Session) -> None:
    r = post_httpapi(session, sink, [{"event_type": "e", "user_id": "ab", "device_id": IDFA}])
    assert r.status_code == 200
    assert sink.received()[0].payload == {"event_type": "e", "device_id": IDFA}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"event_type": "e", "device_id": ZERO}, "device_id"),
        ({"event_type": "e", "user_id": "null"}, "user_id"),
        ({"event_type": "e", "user_id": "Undefined"}, "user_id"),
        ({"event_type": "e", "device_id": IDFA, "time": "2024-01-01"}, "time"),
        ({"event_type": "e", "device_id": IDFA, "time": 1_700_000_000}, "time"),
        ({"event_type": "e", "device_id": IDFA, "revenue": "9.99"}, "revenue"),
        ({"event_type": "e", "device_id": IDFA, "price": True}, "price"),
        ({"event_type": "[Amplitude] Revenue", "device_id": IDFA}, "event_type"),
        ({"event_type": "e", "device_id": IDFA, "idfa": ZERO}, "idfa"),
    ],
)
def test_httpapi_invalid_fields(
    sink: AmplitudeSink, session: requests.Session, event: dict[str, Any], field: str
) -> None:
    r = post_httpapi(session, sink, [{"event_type": "fine", "device_id": IDFA}, event])
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "Invalid field values on some events"
    assert body["events_with_invalid_fields"] == {field: [1]}
    assert sink.received() == []


def test_httpapi_missing_event_type(sink: AmplitudeSink, session: requests.Session) -> None:
    r = post_httpapi(session, sink, [{"device_id": IDFA}])
    assert r.status_code == 400
    assert r.json()["events_with_missing_fields"] == {"event_type": [0]}


@pytest.mark.parametrize(
    ("kwargs", "error", "extra"),
    [
        ({"data": "{}", "headers": {"Content-Type": "text/plain"}}, "Invalid JSON request body", {}),
        ({"data": "{nope", "headers": {"Content-Type": "application/json"}}, "Invalid JSON request body", {}),
        ({"data": "", "headers": {"Content-Type": "application/json"}}, "Missing request body", {}),
        ({"json": {"events": []}}, "Request missing required field", {"missing_field": "api_key"}),
        ({"json": {"api_key": KEY}}, "Request missing required field", {"missing_field": "events"}),
        ({"json": {"api_key": "wrong", "events": [{"event_type": "e", "device_id": IDFA}]}},
         "Invalid API key", {}),
        ({"json": {"api_key": KEY, "events": {"event_type": "e"}}}, "Invalid event JSON", {}),
    ],
)  # fmt: skip
def test_httpapi_request_level_errors(
    sink: AmplitudeSink,
    session: requests.Session,
    kwargs: dict[str, Any],
    error: str,
    extra: dict[str, str],
) -> None:
    r = session.post(f"{sink.url}/2/httpapi", timeout=5, **kwargs)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 400
    assert body["error"] == error
    for key, value in extra.items():
        assert body[key] == value


def test_httpapi_too_many_events_413(sink: AmplitudeSink, session: requests.Session) -> None:
    events = [{"event_type": "e", "device_id": f"device-{i:05d}"} for i in range(2001)]
    r = post_httpapi(session, sink, events)
    assert r.status_code == 413
    assert r.json() == {"code": 413, "error": "Payload too large"}
    assert sink.received() == []
    assert post_httpapi(session, sink, events[:2000]).json()["events_ingested"] == 2000


# ------------------------------------------------------------------------------------------ faults


def test_fault_429_without_retry_after(sink: AmplitudeSink, session: requests.Session) -> None:
    sink.faults = FaultPlan.script(["429"])
    r = post_attribution(session, sink, ios_event())
    assert r.status_code == 429
    assert "Retry-After" not in r.headers
    assert r.json() == {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_devices": {},
        "throttled_users": {},
        "throttled_events": [0],
    }
    assert sink.received() == []
    assert sink.rejected() == []
    assert post_attribution(session, sink, ios_event()).status_code == 200  # script exhausted -> ok
    assert len(sink.received()) == 1
    assert sink.requests_seen() == 2


def test_fault_429_with_retry_after(session: requests.Session) -> None:
    with AmplitudeSink(api_key=KEY, faults=FaultPlan.script(["429-retry-after"], retry_after_s=7)) as sink:
        r = post_httpapi(session, sink, [{"event_type": "e", "device_id": IDFA}])
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "7"
        assert r.json()["error"] == "Too many requests for some devices and users"
        assert sink.received() == []


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_fault_5xx(sink: AmplitudeSink, session: requests.Session, kind: str) -> None:
    sink.faults = FaultPlan.script([kind])
    r = post_identify(session, sink, {"user_id": "user-123", "user_properties": {"a": 1}})
    assert r.status_code == int(kind)
    assert r.json()["code"] == int(kind)
    assert sink.received() == []
    assert sink.requests_seen() == 1


def test_fault_drop_is_a_connection_error(sink: AmplitudeSink, session: requests.Session) -> None:
    sink.faults = FaultPlan.script(["ok", "drop"])
    assert post_attribution(session, sink, ios_event()).status_code == 200  # opens a keep-alive conn
    with pytest.raises(requests.ConnectionError):
        post_attribution(session, sink, ios_event(idfa=ADID))
    assert [r.payload["idfa"] for r in sink.received()] == [IDFA]
    # The same session recovers on a fresh connection.
    assert post_attribution(session, sink, ios_event(idfa=ADID)).status_code == 200
    assert sink.requests_seen() == 3


def test_faulted_requests_record_nothing_even_if_invalid(sink: AmplitudeSink, session: requests.Session) -> None:
    sink.faults = FaultPlan.script(["503"])
    assert post_attribution(session, sink, ios_event(platform="web")).status_code == 503
    assert sink.received() == []
    assert sink.rejected() == []


def test_fault_plan_random_is_deterministic() -> None:
    def run(seed: int) -> list[str]:
        plan = FaultPlan.random(rate=0.5, seed=seed)
        return [plan.next("httpapi").kind for _ in range(200)]

    first = run(42)
    assert first == run(42)
    assert first != run(43)
    assert 50 < sum(k != "ok" for k in first) < 150
    assert set(first) == {"ok", "429", "429-retry-after", "500", "503", "drop"}
    assert FaultPlan.random(rate=0.0, seed=1).next("attribution").kind == "ok"
    assert {FaultPlan.random(rate=1.0, seed=1, kinds=["502"]).next("x").kind} == {"502"}


def test_fault_plan_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultPlan.script(["418"])
    with pytest.raises(ValueError, match="rate"):
        FaultPlan.random(rate=1.5, seed=0)
    assert FaultPlan.none().next("httpapi").kind == "ok"


def test_random_faults_over_http_are_reproducible(session: requests.Session) -> None:
    def statuses(seed: int) -> list[int | str]:
        out: list[int | str] = []
        with AmplitudeSink(api_key=KEY, faults=FaultPlan.random(rate=0.5, seed=seed)) as sink:
            for i in range(20):
                try:
                    out.append(post_attribution(session, sink, ios_event(time=T_MS + i)).status_code)
                except requests.ConnectionError:
                    out.append("drop")
            assert len(sink.received()) == out.count(200)
            assert sink.requests_seen() == 20
        return out

    assert statuses(7) == statuses(7)


# ------------------------------------------------------------------------------------ introspection


def test_sink_received_endpoint(sink: AmplitudeSink, session: requests.Session) -> None:
    post_attribution(session, sink, ios_event())
    post_identify(session, sink, {"user_id": "user-123", "user_properties": {"a": 1}})
    post_httpapi(session, sink, [{"event_type": "e", "device_id": IDFA, "insert_id": "i-1"}])
    post_attribution(session, sink, ios_event(platform="web"))
    r = session.get(f"{sink.url}/_sink/received", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"attribution", "identify", "httpapi", "rejected"}
    assert body["attribution"][0]["payload"] == ios_event()
    assert body["identify"][0]["payload"]["user_id"] == "user-123"
    assert body["httpapi"][0]["insert_id"] == "i-1"
    assert body["rejected"][0]["endpoint"] == "attribution"
    assert "platform" in body["rejected"][0]["reason"]
    assert sink.requests_seen() == 4  # introspection calls are not counted


def test_health_unknown_path_and_clear(sink: AmplitudeSink, session: requests.Session) -> None:
    assert session.get(f"{sink.url}/health", timeout=5).json() == {"status": "ok"}
    r = session.post(f"{sink.url}/2/nope", json={}, timeout=5)
    assert r.status_code == 404
    assert r.json()["code"] == 404
    post_httpapi(session, sink, [{"event_type": "e", "device_id": IDFA, "insert_id": "i-1"}])
    sink.clear()
    assert sink.received() == []
    assert sink.requests_seen() == 0
    post_httpapi(session, sink, [{"event_type": "e", "device_id": IDFA, "insert_id": "i-1"}])
    assert len(sink.received()) == 1  # clear() also resets the dedup memory


def test_url_and_lifecycle() -> None:
    sink = AmplitudeSink()
    with pytest.raises(RuntimeError):
        _ = sink.url
    sink.start()
    try:
        assert sink.url.startswith("http://127.0.0.1:")
        assert not sink.url.endswith("/")
        assert sink.port > 0
        assert requests.get(f"{sink.url}/health", timeout=5).status_code == 200
    finally:
        sink.stop()
    sink.stop()  # idempotent


def test_stop_with_idle_keep_alive_connection(session: requests.Session) -> None:
    sink = AmplitudeSink(api_key=KEY).start()
    assert post_attribution(session, sink, ios_event()).status_code == 200
    sink.stop()  # must not hang on the session's idle connection
    assert isinstance(sink.received()[0], Received)
