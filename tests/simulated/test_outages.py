"""Days of production in minutes: Amplitude outages of 20 minutes to 30 hours on the local stack's
virtual clock (`LocalStack(virtual_clock=True)`, what `serve --virtual-clock` runs), with the template's
production defaults: 30 s back-off doubling to SQS's 900 s cap, the 28 h retry horizon, the 24 h
idempotency TTL, the 360 s visibility timeout and redrive after 5 receives, all in moto.

Postbacks reach the real Lambda handlers as API Gateway v2 events, the way `serve` invokes them; the
retry queue is consumed as the clock passes each message's due instant. Every scenario ends with an
accounting of every Amplitude call an accepted postback was answered with: delivered exactly once
(on /attribution and /identify too, which Amplitude does not de-duplicate), or in the dead-letter
queue with its reason. None lost, none twice.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from postback_relay.messages import DeadLetter
from postback_relay_tools.cli import main as cli
from postback_relay_tools.local.amplitude_sink import AmplitudeSink, FaultPlan
from postback_relay_tools.local.clock import next_due_s
from postback_relay_tools.local.stack import LocalStack
from postback_relay_tools.local.template import Handler
from tests.conftest import ROOT, TOKEN, dead_letters_of, fixture_json, stack_with_stand_in

HOUR = 3600
HORIZON_S = 28 * HOUR  # the template's RetryHorizonSeconds default
SEED = 20261201
# Each scenario's figures, for the README's table: one file per scenario (scenarios run in parallel
# workers), rewritten on every run, not in git.
FIGURES = ROOT / ".postback-relay" / "simulated"


def scaled(postbacks: int) -> int:
    """SIMULATED_SCALE=N runs the traffic-heavy scenarios with N times their postbacks (the default, 1,
    keeps `make test` to a couple of minutes; 10 gives about 11,000 postbacks)."""
    return max(1, round(postbacks * float(os.environ.get("SIMULATED_SCALE", "1"))))


@dataclass
class Scenario:
    name: str
    postbacks: int
    window_s: float  # postbacks arrive evenly over this window, from t = 0
    outage_start_s: float = 0.0
    outage_s: float = 0.0
    outage_status: int = 503
    retry_after_s: int | None = None
    resend_share: float = 0.0  # of postbacks received during the outage, resent 60 s later
    kill_share: float = 0.0  # of retry batches with > 1 record, killed after part of the batch
    table_down: tuple[float, float] | None = None  # idempotency table deleted over this window
    fault_rate: float = 0.0  # share of Amplitude's answers faulted at random, all along
    fault_kinds: tuple[str, ...] = ()
    expect_dead_lettered: bool = False

    @property
    def simulated_s(self) -> float:
        return max(self.window_s, self.outage_start_s + self.outage_s) + HORIZON_S + HOUR


SCENARIOS = [
    # Most days: no outage, a few answers go wrong. The bulk of the postbacks, each accounted for.
    Scenario(
        "a steady day, 2 % of answers 429 or 5xx",
        scaled(4500),
        24 * HOUR,
        fault_rate=0.02,
        fault_kinds=("429", "500", "502", "503"),
    ),
    Scenario(
        "a steady day, 2 % of connections reset or answered 429 with Retry-After",
        scaled(4500),
        24 * HOUR,
        fault_rate=0.02,
        fault_kinds=("drop", "429-retry-after"),
    ),
    Scenario("20-minute outage", scaled(400), 2 * HOUR, outage_start_s=1800, outage_s=1200, resend_share=0.1),
    Scenario("3-hour outage", scaled(100), 6 * HOUR, outage_start_s=HOUR, outage_s=3 * HOUR, kill_share=0.1),
    # A call owed through a day-long outage is attempted about 110 times: these cost attempts, not
    # postbacks. Arrivals over the first 6 h: in the 30 h outage, those of its first 2 h pass the horizon.
    Scenario("26-hour outage, past the idempotency TTL", 8, 6 * HOUR, outage_start_s=HOUR, outage_s=26 * HOUR),
    Scenario(
        "30-hour outage, past the retry horizon",
        9,
        6 * HOUR,
        outage_start_s=HOUR,
        outage_s=30 * HOUR,
        expect_dead_lettered=True,
    ),
    Scenario(
        "429 with Retry-After: 1200",
        scaled(300),
        3 * HOUR,
        outage_start_s=HOUR,
        outage_s=HOUR,
        outage_status=429,
        retry_after_s=1200,
        resend_share=0.1,
    ),
    Scenario(
        "idempotency table down during an outage",
        scaled(300),
        4 * HOUR,
        outage_start_s=HOUR,
        outage_s=HOUR,
        table_down=(HOUR + 600, 2 * HOUR),
    ),
]


@dataclass
class Ledger:
    """What partners were told, by call key, and what reached Amplitude or the DLQ."""

    expected: dict[str, str] = field(default_factory=dict)  # accounting key -> insert_id
    accepted: int = 0
    resent: int = 0
    kills: int = 0


def postback(index: int, now_s: float, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A distinct AppsFlyer (POST JSON) or Adjust (GET callback) postback, timed at `now_s`."""
    moment = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now_s)) + f".{index % 1000:03d}"
    kind = rng.random()
    if kind < 0.45:
        body = deepcopy(fixture_json("appsflyer", "install_ios.json"))
        body["idfv"] = f"{body['idfv'][:-12]}{index:012d}"
        body["idfa"] = f"{body['idfa'][:-12]}{index:012d}" if body.get("idfa") else None
        # Half without a user id: one Attribution call; the others add an Identify.
        body["customer_user_id"] = f"sim-user-{index}" if index % 2 else None
        body["event_time"] = body["install_time"] = moment
        return "appsflyer", body
    if kind < 0.7:
        body = deepcopy(fixture_json("appsflyer", "inapp_purchase.json"))
        body["idfv"] = f"{body['idfv'][:-12]}{index:012d}" if body.get("idfv") else body.get("idfv")
        body["customer_user_id"] = f"sim-buyer-{index}"
        body["event_time"] = moment
        return "appsflyer", body
    query = deepcopy(fixture_json("adjust", "install_android.json"))
    query["gps_adid"] = f"{query['gps_adid'][:-12]}{index:012d}"
    query["user_id"] = f"sim-adjust-{index}"
    query["created_at"] = str(int(now_s))
    return "adjust", query


def send(stack: LocalStack, partner: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    path = f"/v1/postbacks/{partner}"
    if partner == "adjust":
        method, query, payload = "GET", _query({"token": TOKEN, **body}), b""
    else:
        method, query, payload = "POST", f"token={TOKEN}", json.dumps(body).encode()
    headers = {"content-type": "application/json"} if payload else {}
    result = stack.request(method, path, query, headers, payload, source_ip="185.182.224.10")
    assert result is not None
    return int(result["statusCode"]), json.loads(result["body"])


def _query(values: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({key: value for key, value in values.items() if value is not None})


def account_key(endpoint: str, payload: dict[str, Any]) -> str:
    """The same key for a call as the partner's answer names it and as Amplitude receives it."""
    if endpoint == "attribution":
        return str(payload["event_properties"]["postback_id"])
    if endpoint == "identify":
        return f"identify:{payload['user_id']}"
    return str(payload["insert_id"])


def killed_mid_batch(rng: random.Random, share: float, ledger: Ledger) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        def invoke(event: dict[str, Any], context: Any) -> Any:
            records = event["Records"]
            if len(records) > 1 and rng.random() < share:
                handler({"Records": records[: rng.randrange(1, len(records))]}, context)
                ledger.kills += 1
                raise RuntimeError("retry consumer killed mid-batch")
            return handler(event, context)

        return invoke

    return wrap


def dead_letters(stack: LocalStack) -> list[DeadLetter]:
    letters = dead_letters_of(stack)
    # Letters over 12 h old cannot be made visible at once in moto (queues.Queue.release): wait the
    # drain's visibility out, as an operator's next `dlq` command would.
    stack.advance(61)
    return letters


def replay(stack: LocalStack) -> None:
    queues = ["--dlq-url", stack.queue_urls["DeadLetterQueue"], "--retry-queue-url", stack.queue_urls["RetryQueue"]]
    assert cli(["dlq", "replay", *queues]) == 0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[LocalStack, AmplitudeSink]]:
    # Only what a deployment sets itself: the production defaults come from template.yaml, and the
    # partner-facing deadline is the template's 800 ms too (tests/conftest.py widens it elsewhere).
    environment = {"POWERTOOLS_LOG_LEVEL": "ERROR", "RELAY_SYNC_BUDGET_MS": "800"}
    with stack_with_stand_in(tmp_path / "serve.json", environment, virtual_clock=True) as pair:
        yield pair


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_accepted_postback_reaches_amplitude_once_or_waits_in_the_dlq(
    stack: tuple[LocalStack, AmplitudeSink], scenario: Scenario
) -> None:
    local, sink = stack
    wall_started = time.monotonic()
    rng = random.Random(f"{SEED}-{scenario.name}")
    ledger = Ledger()
    if scenario.fault_rate:
        sink.faults = FaultPlan.random(scenario.fault_rate, seed=SEED, kinds=scenario.fault_kinds, retry_after_s=120)
    if scenario.kill_share:
        local.wrap_handler("RetryFunction", killed_mid_batch(random.Random(SEED), scenario.kill_share, ledger))
    start_s = time.time()
    table = local.physical_ids["IdempotencyTable"]
    resends: list[tuple[float, str, dict[str, Any], dict[str, Any]]] = []
    outage_started = table_gone = table_back = False
    step_s = scenario.window_s / scenario.postbacks

    for index in range(scenario.postbacks):
        at_s = start_s + index * step_s
        while resends and resends[0][0] <= at_s:
            due_s, partner, body, first_answer = resends.pop(0)
            local.advance(max(0.0, due_s - time.time()))
            status, answer = send(local, partner, body)
            assert (status, answer) == (200 if first_answer["status"] == "delivered" else 202, first_answer)
            ledger.resent += 1
        local.advance(max(0.0, at_s - time.time()))
        now = time.time() - start_s
        if scenario.outage_s and not outage_started and now >= scenario.outage_start_s:
            sink.start_outage(scenario.outage_s, scenario.outage_status, scenario.retry_after_s)
            outage_started = True
        if scenario.table_down and not table_gone and now >= scenario.table_down[0]:
            boto3.client("dynamodb").delete_table(TableName=table)
            table_gone = True
        if scenario.table_down and table_gone and not table_back and now >= scenario.table_down[1]:
            recreate_table(local, table)
            table_back = True
        partner, body = postback(index, time.time(), rng)
        status, answer = send(local, partner, body)
        assert status in (200, 202), answer
        ledger.accepted += 1
        for request in answer["requests"]:
            user = body.get("customer_user_id") or body.get("user_id")
            key = f"identify:{user}" if request["endpoint"] == "identify" else request["insert_id"]
            assert key not in ledger.expected, "two different postbacks shared a call"
            ledger.expected[key] = request["insert_id"]
        in_outage = scenario.outage_start_s <= now < scenario.outage_start_s + scenario.outage_s
        if in_outage and rng.random() < scenario.resend_share:
            resends.append((at_s + 60, partner, body, answer))
    if scenario.table_down and not table_back:
        recreate_table(local, table)

    # Long enough for the longest outage to end and every retry to reach the horizon.
    local.advance(max(0.0, start_s + scenario.simulated_s - time.time()))
    assert sum(local.queue_depth("RetryQueue").values()) == 0, "the retry queue never drained"

    letters = dead_letters(local)
    delivered = [account_key(r.endpoint, r.payload) for r in sink.received()]
    twice = [key for key, seen in Counter(delivered).items() if seen > 1]
    assert twice == [], f"delivered twice: {twice[:5]}"
    dead = {letter.call.insert_id for letter in letters if letter.call}
    delivered_ids = {ledger.expected[key] for key in delivered if key in ledger.expected}
    assert len(delivered_ids) == len(delivered), "Amplitude received a call no partner was answered with"
    assert delivered_ids.isdisjoint(dead), "a call both delivered and dead-lettered"
    lost = set(ledger.expected.values()) - delivered_ids - dead
    assert lost == set(), f"{len(lost)} call(s) lost"
    assert all(letter.reason in ("max_attempts", "redriven") for letter in letters)
    if scenario.expect_dead_lettered:
        # Past the horizon: dead-lettered with max_attempts after the full 28 h, never sooner.
        assert letters
        assert all(letter.reason == "max_attempts" for letter in letters)
        assert all(letter.dead_lettered_at_ms - (letter.received_at_ms or 0) >= HORIZON_S * 1000 for letter in letters)
        # What the operator does after an outage longer than the horizon: replay, and it lands once.
        replay(local)
        local.advance(HOUR)
        assert dead_letters(local) == []
        delivered = [account_key(r.endpoint, r.payload) for r in sink.received()]
        assert sorted(delivered) == sorted(ledger.expected)
    else:
        assert letters == [], f"{len(letters)} dead-lettered: {Counter(letter.reason for letter in letters)}"
    if scenario.kill_share:
        assert ledger.kills > 0
    if scenario.resend_share:
        assert ledger.resent > 0
    faulted = sum(kind != "ok" for _, kind in sink.faults.decisions)
    if scenario.fault_rate:
        assert faulted > 0

    record_figures(scenario, ledger, len(dead), time.monotonic() - wall_started, sink.requests_seen(), faulted)


def recreate_table(stack: LocalStack, name: str) -> None:
    properties = stack.template.tables["IdempotencyTable"]
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )


def record_figures(scenario: Scenario, ledger: Ledger, dead: int, wall_s: float, requests: int, faulted: int) -> None:
    figures = {
        "scenario": scenario.name,
        "postbacks": ledger.accepted,
        "resent": ledger.resent,
        "calls": len(ledger.expected),
        "simulated_hours": round(scenario.simulated_s / HOUR, 1),
        "amplitude_requests": requests,
        "delivered_once": len(ledger.expected) - dead,
        "dead_lettered_with_reason": dead,
        "lost": 0,
        "twice": 0,
        "killed_batches": ledger.kills,
        "faulted_answers": faulted,
        "wall_s": round(wall_s, 1),
    }
    FIGURES.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in scenario.name.lower())
    (FIGURES / f"{slug}.json").write_text(json.dumps(figures, indent=2) + "\n")


def test_serve_virtual_clock_heals_a_six_hour_outage_over_http(tmp_path: Path) -> None:
    """The README's walkthrough: `serve --virtual-clock`, a 6 h outage at the local Amplitude, one
    postback, then `POST /_clock/advance` answers only once every message due by then is processed."""
    import requests

    with stack_with_stand_in(tmp_path / "serve.json", virtual_clock=True) as (local, sink):
        now_ms = requests.get(f"{local.url}/_clock", timeout=5).json()["now_ms"]
        assert abs(now_ms - time.time() * 1000) < 1000
        outage = requests.post(f"{sink.url}/_sink/outage", json={"seconds": 6 * HOUR}, timeout=5).json()
        assert outage["outage"] is True
        partner, body = postback(1, time.time(), random.Random(1))
        answer = requests.post(f"{local.url}/v1/postbacks/{partner}?token={TOKEN}", json=body, timeout=10)
        assert (answer.status_code, answer.json()["status"]) == (202, "queued")
        moved = requests.post(f"{local.url}/_clock/advance", json={"seconds": 3 * HOUR}, timeout=60).json()
        assert moved["now_ms"] == now_ms + 3 * HOUR * 1000
        assert sink.received() == []  # still down
        requests.post(f"{local.url}/_clock/advance", json={"seconds": 3.5 * HOUR}, timeout=60)
        assert len(sink.received()) == len(answer.json()["requests"])  # healed, each call once
        assert requests.post(f"{local.url}/_clock/advance", json={"seconds": -1}, timeout=5).status_code == 400


def test_the_clock_routes_exist_only_on_a_virtual_clock(tmp_path: Path) -> None:
    import requests

    with stack_with_stand_in(tmp_path / "serve.json") as (local, _):
        assert requests.get(f"{local.url}/_clock", timeout=5).status_code == 404
        assert requests.post(f"{local.url}/_clock/advance", json={"seconds": 1}, timeout=5).status_code == 404


def test_advancing_exactly_to_a_visibility_timeout_returns(tmp_path: Path) -> None:
    """A message whose visibility ends exactly at the target is the next advance's, not a hang."""
    with stack_with_stand_in(tmp_path / "serve.json", virtual_clock=True) as (local, sink):
        local.wrap_handler("RetryFunction", lambda handler: _crash)
        sink.start_outage(HOUR)
        send(local, *postback(2, time.time(), random.Random(2)))
        local.advance(60)  # past the first retry's delay: received once, crashed, invisible 360 s
        names = [local.physical_ids["RetryQueue"].rsplit("/", 1)[-1]]
        visible_again_s = next_due_s(names, "us-east-1")
        assert visible_again_s is not None
        # Land exactly on the instant its visibility timeout ends.
        local.advance(visible_again_s - time.time())
        assert local.now_ms() == int(visible_again_s * 1000)


def _crash(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("retry consumer crashed")
