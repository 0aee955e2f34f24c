"""The sample events in events/ (`sam local invoke -e events/<name>.json`), written, never hand-edited.

Each partner sample is one of the realistic fixtures the tests use (tests/fixtures/<partner>/), sent
as the partner sends it: its JSON body on POST, its fields as the query string on GET, on the route
template.yaml gives the partner, with the samples' token and API Gateway's HTTP API (payload 2.0)
event shape (tools/postback_relay_tools/local/events.py, the builder `serve` and the tests use).
The tracker's requests, the retry consumer's SQS batch and env.json (`sam local invoke --env-vars`)
have no fixture: their content is here.

`make events` (`python -m postback_relay_tools.sample_events`) rewrites events/;
tests/unit/test_events.py fails when a file there differs from what this module writes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from postback_relay.inbound import TOKEN_PARAM
from postback_relay.partners.custom import NETWORKS_DIR
from postback_relay.partners.registry import CUSTOM_PREFIX, CUSTOM_ROUTE_PREFIX, coded_partners

from .local.events import SqsMessage, http_api_event, sqs_event
from .local.stack import tokens_for_every_route
from .local.template import HttpRoute, find_route, load_template

COMMAND = "make events"
MODULE_COMMAND = "python -m postback_relay_tools.sample_events"

# What `sam local invoke --env-vars events/env.json` gives every partner route.
TOKEN = "local-relay-token"  # noqa: S105 - the samples' local token, never a deployed one
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
LOOPBACK = "127.0.0.1"
# In AppsFlyer's published ranges: tests/integration/test_handlers.py allowlists 185.182.224.0/22.
APPSFLYER_IP = "185.182.224.10"
# A phone on a documentation network (RFC 5737), for the tracker's requests.
PHONE_IP = "203.0.113.42"
# One fixed instant (2026-11-20 13:37:00 UTC) instead of the builder's clock, so the files are stable.
SAMPLE_TIME_MS = 1_795_181_820_000


@dataclass(frozen=True)
class PartnerSample:
    """events/<file>.json: tests/fixtures/<partner folder>/<fixture>.json as `method` delivers it."""

    file: str
    partner: str  # as the CLI names it: "adjust", "custom/liftoff"
    fixture: str
    method: str
    user_agent: str
    source_ip: str = LOOPBACK

    @property
    def fixture_path(self) -> Path:
        return Path("tests", "fixtures", self.partner.removeprefix(CUSTOM_PREFIX), f"{self.fixture}.json")

    @property
    def path(self) -> str:
        if self.partner.startswith(CUSTOM_PREFIX):
            return f"{CUSTOM_ROUTE_PREFIX}/{self.partner.removeprefix(CUSTOM_PREFIX)}"
        return coded_partners()[self.partner].route


PARTNER_SAMPLES: tuple[PartnerSample, ...] = (
    PartnerSample("adjust-install-ios-get.json", "adjust", "install_ios", "GET", "adjust-callbacks"),
    PartnerSample("adjust-purchase-get.json", "adjust", "purchase", "GET", "adjust-callbacks"),
    PartnerSample(
        "appsflyer-install-android-post.json", "appsflyer", "install_android", "POST", "AppsFlyer", APPSFLYER_IP
    ),
    PartnerSample("appsflyer-install-ios-post.json", "appsflyer", "install_ios", "POST", "AppsFlyer", APPSFLYER_IP),
    PartnerSample("appsflyer-purchase-post.json", "appsflyer", "inapp_purchase", "POST", "AppsFlyer", APPSFLYER_IP),
    PartnerSample("appsflyer-reengagement-get.json", "appsflyer", "reengagement", "GET", "AppsFlyer", APPSFLYER_IP),
    PartnerSample("branch-install-ios-post.json", "branch", "install_ios", "POST", "branch-webhooks"),
    PartnerSample("branch-purchase-post.json", "branch", "purchase", "POST", "branch-webhooks"),
    PartnerSample(
        "custom-liftoff-install-android-get.json", "custom/liftoff", "install_android", "GET", "liftoff-callbacks"
    ),
    PartnerSample(
        "custom-unity-ads-install-ios-get.json", "custom/unity-ads", "install_ios", "GET", "unity-ads-callbacks"
    ),
    PartnerSample("kochava-install-android-get.json", "kochava", "install_android", "GET", "kochava-callbacks"),
    PartnerSample("singular-install-android-post.json", "singular", "install_android", "POST", "singular-webhooks"),
    PartnerSample("tenjin-install-ios-get.json", "tenjin", "install_ios", "GET", "tenjin-callbacks"),
)


@dataclass(frozen=True)
class TrackerSample:
    """events/<file>.json: one request of the tracker's SDK or a browser (docs/tracker.md)."""

    file: str
    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None


TRACKER_APP_ID = "5b0f1c9e-3c1a-4d7e-9a51-2f6f0a4c8d11"
TRACKER_DEVICE_ID = "9c9a82fb-d5de-4cd1-90c3-527441c11828"
# `postback-relay apps create` prints the real key; tests/tracker/test_tracker_samples.py registers this one.
TRACKER_SDK_HEADERS = {
    "content-type": "application/json",
    "x-api-key": "ak_replace_with_the_key_apps_create_printed",
    "user-agent": "okhttp/4.12.0",
}
TRACKER_SAMPLES: tuple[TrackerSample, ...] = (
    TrackerSample(
        "tracker-click-get.json",
        "GET",
        "/v1/clicks",
        {"user-agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"},
        query={
            "app_id": TRACKER_APP_ID,
            "c": "summer_campaign",
            "pid": "facebook",
            "af_adset": "lookalike",
            "af_ad": "video-15s",
            "advertising_id": TRACKER_DEVICE_ID,
        },
    ),
    TrackerSample(
        "tracker-events-post.json",
        "POST",
        "/v1/events",
        TRACKER_SDK_HEADERS,
        body={
            "app_id": TRACKER_APP_ID,
            "device_id": TRACKER_DEVICE_ID,
            "events": [
                {
                    "event_name": "purchase",
                    "properties": {"amount": 5000, "currency": "NGN", "product_id": "premium_plan"},
                    "timestamp": SAMPLE_TIME_MS,
                    "session_id": "8f7c2a1e-5d4b-4c3a-9e8f-7a6b5c4d3e2f",
                }
            ],
            "sdk_version": "1.0.0",
        },
    ),
    TrackerSample(
        "tracker-install-post.json",
        "POST",
        "/v1/installs",
        TRACKER_SDK_HEADERS,
        body={
            "app_id": TRACKER_APP_ID,
            "device_id": TRACKER_DEVICE_ID,
            "platform": "android",
            "install_referrer": "utm_source=facebook&utm_campaign=summer",
            "sdk_version": "1.0.0",
            "screen_resolution": "1080x1920",
            "timezone": "Africa/Lagos",
            "language": "en-NG",
        },
    ),
)

RETRY_FILE = "retry-sqs.json"
RETRY_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:postback-relay-RetryQueue"
# A RetryMessage (layers/relay/postback_relay/messages.py): one AppsFlyer attribution call Amplitude throttled once.
RETRY_MESSAGE: Mapping[str, Any] = {
    "partner": "appsflyer",
    "call": {
        "endpoint": "attribution",
        "insert_id": "appsflyer-attribution-sample",
        "payload": {
            "event_type": "[AppsFlyer] Install",
            "platform": "ios",
            "idfa": "A7071198-3848-40A5-B3D0-94578D9B1234",
            "time": SAMPLE_TIME_MS,
            "user_properties": {
                "[AppsFlyer] media source": "googleadwords_int",
                "[AppsFlyer] campaign": "PB_iOS_US_Search_Brand",
            },
            "event_properties": {"postback_id": "appsflyer-attribution-sample"},
        },
    },
    "attempts": 1,
    "received_at_ms": SAMPLE_TIME_MS,
    "last_status": 429,
    "last_error": "Too many requests",
}

ENV_FILE = "env.json"


def query_value(value: Any) -> str | None:
    """A JSON field as a query parameter; None when the partner leaves it out. AppsFlyer's GET
    drops null fields (its Push API page: https://support.appsflyer.com/hc/en-us/articles/207034356);
    a URL template's placeholder without data stays, empty (`reattributed_at=`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be a query parameter")


def partner_request(sample: PartnerSample, root: Path) -> tuple[str, dict[str, str], bytes]:
    """The query string (token first), headers and body of one partner sample."""
    fields: dict[str, Any] = json.loads((root / sample.fixture_path).read_text())
    query = [(TOKEN_PARAM, TOKEN)]
    headers = {"user-agent": sample.user_agent}
    body = b""
    if sample.method == "GET":
        query += [(key, text) for key, value in fields.items() if (text := query_value(value)) is not None]
    else:
        headers = {"content-type": "application/json", **headers}
        body = json.dumps(fields).encode()
    return urlencode(query), headers, body


def route_for(routes: Sequence[HttpRoute], method: str, path: str) -> tuple[HttpRoute, dict[str, str]]:
    """The template's route serving `method path`, with its path parameters."""
    found = find_route(routes, method, path)
    if found is None:
        raise LookupError(f"template.yaml has no route for {method} {path}")
    return found


def http_sample(
    file: str,
    routes: Sequence[HttpRoute],
    method: str,
    path: str,
    *,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
) -> dict[str, Any]:
    route, parameters = route_for(routes, method, path)
    event = http_api_event(
        method,
        path,
        query=query,
        headers={**headers, "host": HOST},
        body=body,
        route_key=route.route_key,
        path_parameters=parameters,
        source_ip=source_ip,
    )
    context = event["requestContext"]
    context["requestId"] = f"sample-{file.removesuffix('.json')}"
    context["time"] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(SAMPLE_TIME_MS // 1000))
    context["timeEpoch"] = SAMPLE_TIME_MS
    return event


def retry_sample() -> dict[str, Any]:
    message = SqsMessage("6f1d5a4e-0000-4000-8000-000000000001", "sample-receipt-handle", json.dumps(RETRY_MESSAGE))
    event = sqs_event([message], RETRY_QUEUE_ARN)
    for record in event["Records"]:
        record["attributes"]["SentTimestamp"] = str(SAMPLE_TIME_MS)
        record["attributes"]["ApproximateFirstReceiveTimestamp"] = str(SAMPLE_TIME_MS)
    return event


def env_sample() -> dict[str, Any]:
    # The shipped networks, not $RELAY_NETWORKS_DIR: the file must not depend on the shell.
    tokens = tokens_for_every_route(lambda: TOKEN, networks_dir=str(NETWORKS_DIR))
    return {
        "Parameters": {
            "RELAY_TOKENS": json.dumps(tokens, separators=(",", ":")),
            "AMPLITUDE_API_KEY": "your-amplitude-api-key",
            "AMPLITUDE_API_KEY_PARAMETER": "",
            "RELAY_TOKENS_PREFIX": "",
        }
    }


def sample_events(root: Path) -> dict[str, dict[str, Any]]:
    """Every file of events/ by name, as this module writes it; `root` is the repository."""
    routes = load_template(root / "template.yaml").routes
    events: dict[str, dict[str, Any]] = {}
    for partner in PARTNER_SAMPLES:
        query, headers, body = partner_request(partner, root)
        events[partner.file] = http_sample(
            partner.file,
            routes,
            partner.method,
            partner.path,
            query=query,
            headers=headers,
            body=body,
            source_ip=partner.source_ip,
        )
    for tracker in TRACKER_SAMPLES:
        events[tracker.file] = http_sample(
            tracker.file,
            routes,
            tracker.method,
            tracker.path,
            query=urlencode(dict(tracker.query)),
            headers=tracker.headers,
            body=json.dumps(tracker.body).encode() if tracker.body is not None else b"",
            source_ip=PHONE_IP,
        )
    events[RETRY_FILE] = retry_sample()
    events[ENV_FILE] = env_sample()
    return dict(sorted(events.items()))


def render(event: Mapping[str, Any]) -> str:
    return json.dumps(event, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=MODULE_COMMAND, description="Write events/*.json from tests/fixtures and template.yaml."
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: this directory)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file would change")
    options = parser.parse_args(argv)
    root: Path = options.root
    folder = root / "events"
    events = sample_events(root)
    stale: list[str] = []
    for name, event in events.items():
        target = folder / name
        text = render(event)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(name)
        if not options.check:
            target.write_text(text)
    unknown = sorted(path.name for path in folder.glob("*.json") if path.name not in events)
    for name in unknown:
        print(f"events/{name}: not written by {MODULE_COMMAND}; add it there or remove it", file=sys.stderr)
    verb = "differ" if options.check else "rewritten"
    print(f"events/: {len(stale)} of {len(events)} {verb}" + (f" ({', '.join(stale)})" if stale else ""))
    return 1 if (options.check and stale) or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
