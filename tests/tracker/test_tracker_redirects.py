# ruff: noqa: RUF001 - look-alike characters are the point of these inputs
"""Click redirects against hostile `redirect_url`s: a table of known bypasses and a generated set,
each answered by the tracker's Lambda handler (always a 302, never a 5xx), and each `Location`
read again by an independent WHATWG URL parser, the machine's Node.js `URL`, which must agree that
the browser lands on an allowed host. The figures go to .postback-relay/hostile/redirects.json for
the README."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
from typing import Any
from urllib.parse import urlencode

import pytest

from postback_relay.runtime import reset_runtime
from postback_relay.tracker.apps import hash_api_key
from postback_relay.tracker.models import App
from postback_relay.tracker.redirects import normalize_domain, safe_fallback, safe_redirect
from postback_relay.tracker.store import TrackerStore
from postback_relay_tools.local.events import lambda_context
from tests.conftest import ROOT
from tests.integration.support import function, sample
from tests.tracker.redirect_cases import FOLLOWED, REFUSED
from tests.tracker.support import create_tables_for_the_handler

pytestmark = pytest.mark.slow  # hundreds of URLs, each checked by Node.js in a subprocess: not in make test-quick

APP_ID = "0b7c2a55-8f3e-4a4f-9c0e-5d6a7b8c9d01"
DOMAINS = ["promo.example", "bücher.example"]
ALLOWED = {"promo.example", "xn--bcher-kva.example"}
STORE = "https://apps.apple.com/app/id1217828636"
ANDROID_STORE = "https://play.google.com/store/apps/details?id=com.example.paperboat"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
FIGURES = ROOT / ".postback-relay" / "hostile" / "redirects.json"
GENERATED = 600
SEED = 20261201


_PREFIXES = [
    "https://",
    "HTTPS://",
    "hTtPs://",
    "http://",
    "https:",
    "https:/",
    "https:\\\\",
    "https:/\\",
    "https:///",
    "//",
    "\\\\",
    " https://",
    "\thttps://",
    "javascript:",
    "wss://",
    "ftp://",
]
_USERINFO = [
    "",
    "",
    "",
    "evil.example@",
    "evil.example\\@",
    "evil.example\\\\@",
    "evil.example:443\\@",
    "evil.example#@",
    "evil.example?@",
    "evil.example/@",
    "user:pass@",
    "%40@",
    "@",
]
_HOSTS = [
    "promo.example",
    "PROMO.EXAMPLE",
    "go.promo.example",
    "a.b.promo.example",
    "promo.example.",
    "promo.example.evil.example",
    "evilpromo.example",
    "evil.example",
    "ｐｒｏｍｏ.example",
    "promo。example",
    "evil.example%2epromo.example",
    "promo%2eexample",
    "prоmo.example",
    "bücher.example",
    "BÜCHER.example",
    "xn--bcher-kva.example",
    "promo.example%00",
    "promo.example%0d%0a",
    "1.2.3.4",
    "[::1]",
    "[x",
    "a／.b",
    "a？.b",
    "pro\tmo.example",
    "pro\nmo.example",
    "promo..example",
    "localhost",
    "",
]
_PORTS = ["", "", "", ":443", ":8443", ":", ":0443"]
_PATHS = [
    "/welcome",
    "",
    "/",
    "/a/b?c=d#e",
    "\\evil.example",
    "?q=1",
    "#frag",
    "/%0d%0aSet-Cookie:%20x",
    "/\r\nSet-Cookie: x",
    "/%E2%80%A8",
    "/ü",
    "/@evil.example",
    "／evil.example",
    "？x",
    "/a b",
    "/\u202e",
    '/"><script>',
]


def generated_cases() -> list[str]:
    """A seeded sample of hostile combinations (prefix, userinfo, host, port, path). Each part is
    the plain one (its list's first) 60 % of the time, so many cases differ from a good link by one
    or two tricks, and some are good links: the independent check then has Locations to read."""
    rng = random.Random(SEED)
    seen: set[str] = set(REFUSED) | set(FOLLOWED)
    cases: list[str] = []
    while len(cases) < GENERATED:
        parts = [
            options[0] if rng.random() < 0.6 else rng.choice(options)
            for options in (_PREFIXES, _USERINFO, _HOSTS, _PORTS, _PATHS)
        ]
        case = "".join(parts)
        if case not in seen:
            seen.add(case)
            cases.append(case)
    return cases


def all_cases() -> list[str]:
    return [*REFUSED, *FOLLOWED, *generated_cases()]


_NODE_PARSE = """
let input = '';
process.stdin.on('data', chunk => input += chunk).on('end', () => {
  const answers = JSON.parse(input).map(text => {
    try {
      const u = new URL(text);
      return {ok: true, href: u.href, protocol: u.protocol, hostname: u.hostname,
              username: u.username, password: u.password, port: u.port};
    } catch (error) {
      return {ok: false};
    }
  });
  process.stdout.write(JSON.stringify(answers));
});
"""


def node_parse(texts: list[str]) -> list[dict[str, Any]]:
    """Every text through Node.js's WHATWG `URL`, in one node process (JSON over stdin)."""
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(  # noqa: S603 - the machine's node, our own script
        [node, "-e", _NODE_PARSE],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(answers) == len(texts)
    return answers


def allowed(host: str) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in ALLOWED)


APP = App(
    app_id=APP_ID,
    name="Paper Boat",
    ios_store_url=STORE,
    android_store_url=ANDROID_STORE,
    redirect_domains=DOMAINS,
    api_key_hash=hash_api_key("ak_unused"),
    created_at_ms=1,
)


@pytest.fixture
def click_handler(relay_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The TrackerFunction handler, its app read from memory: only where a click goes is under test
    here, and moto's GetItem (about 25 ms) would make the hundreds of clicks take a minute.
    Storing clicks is test_tracker_clock's; no fingerprint and no archive, so nothing is written."""
    create_tables_for_the_handler(monkeypatch)
    monkeypatch.setenv("RELAY_FINGERPRINTING", "false")
    monkeypatch.delenv("RELAY_ARCHIVE_BUCKET")
    monkeypatch.setattr(TrackerStore, "get_app", lambda _store, app_id: APP if app_id == APP_ID else None)
    reset_runtime()
    return function("TrackerFunction")


def click_event(redirect_url: str) -> dict[str, Any]:
    event = sample("tracker-click-get.json")
    query = {"app_id": APP_ID, "c": "launch", "pid": "google", "redirect_url": redirect_url}
    event["queryStringParameters"] = query
    event["rawQueryString"] = urlencode(query, errors="surrogatepass")
    event["headers"] = {"user-agent": IPHONE}
    event["requestContext"]["http"]["userAgent"] = IPHONE
    return event


def answers(handler: Any, cases: list[str]) -> list[dict[str, Any]]:
    return [handler(click_event(case), lambda_context("TrackerFunction")) for case in cases]


def header_safe(location: str) -> bool:
    return location.isascii() and location.isprintable() and " " not in location


@pytest.mark.parametrize("redirect_url", REFUSED)
def test_known_bypasses_land_on_the_store(redirect_url: str) -> None:
    assert safe_redirect(redirect_url, DOMAINS) is None


@pytest.mark.parametrize(("redirect_url", "location"), FOLLOWED.items())
def test_allowed_targets_are_serialized_again(redirect_url: str, location: str) -> None:
    assert safe_redirect(redirect_url, DOMAINS) == location


def test_nothing_is_followed_without_allowed_domains() -> None:
    assert safe_redirect("https://promo.example/", []) is None


@pytest.mark.parametrize(
    ("domain", "normalized"),
    [
        ("promo.example", "promo.example"),
        ("Promo.Example.", "promo.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("promo.example:443", None),
        ("evil.example/promo.example", None),
        ("user@promo.example", None),
        ("1.2.3.4", None),
        ("", None),
        ("a b.example", None),
    ],
)
def test_allowed_domains_are_read_as_hosts(domain: str, normalized: str | None) -> None:
    assert normalize_domain(domain) == normalized


def test_configured_store_pages_cannot_split_the_header_block() -> None:
    assert safe_fallback("itms-apps://apps.apple.com/app/id1217828636") == "itms-apps://apps.apple.com/app/id1217828636"
    assert safe_fallback("https://play.google.com/x\r\nSet-Cookie: a=b") is None
    assert safe_fallback("javascript:alert(1)") is None


def test_every_click_is_a_302_with_a_clean_location(click_handler: Any) -> None:
    cases = all_cases()
    for case, answer in zip(cases, answers(click_handler, cases), strict=True):
        assert answer["statusCode"] == 302, repr(case)
        location = answer["headers"]["Location"]
        assert header_safe(location), repr(case)
        expected = FOLLOWED.get(case) or safe_redirect(case, DOMAINS) or STORE
        assert location == expected, repr(case)


def test_a_click_always_redirects_even_when_the_tracker_cannot_run(
    click_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELAY_APPS_TABLE")
    reset_runtime()  # get_tracker now raises ConfigurationError
    answer = click_handler(click_event("https://promo.example/"), lambda_context("TrackerFunction"))
    assert (answer["statusCode"], answer["headers"]["Location"]) == (302, "https://www.apple.com/app-store/")


@pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not on PATH: no independent WHATWG parser to check with"
)
def test_an_independent_whatwg_parser_agrees_no_location_leaves_the_allowed_domains(click_handler: Any) -> None:
    cases = all_cases()
    responses = answers(click_handler, cases)
    locations = [response["headers"].get("Location", "") for response in responses]
    parsed_locations = node_parse(locations)
    parsed_inputs = node_parse(cases)
    bypasses: list[str] = []
    followed = 0
    for case, location, browser, read_raw in zip(cases, locations, parsed_locations, parsed_inputs, strict=True):
        if location in (STORE, ANDROID_STORE):
            continue
        followed += 1
        lands_allowed = (
            browser["ok"]
            and browser["protocol"] == "https:"
            and allowed(browser["hostname"])
            and not (browser["username"] or browser["password"] or browser["port"])
            and browser["href"] == location
        )
        # Where the link itself points, read by a browser, is where we send it: no rewriting.
        same_target = read_raw["ok"] and read_raw["href"] == location
        if not (lands_allowed and same_target):
            bypasses.append(case)
    status_5xx = sum(1 for response in responses if response["statusCode"] >= 500)
    figures = {
        "inputs": len(cases),
        "table": len(REFUSED) + len(FOLLOWED),
        "generated": len(cases) - len(REFUSED) - len(FOLLOWED),
        "followed_to_an_allowed_host": followed,
        "sent_to_the_store": len(cases) - followed,
        "bypasses": len(bypasses),
        "status_5xx": status_5xx,
        "non_302": sum(1 for response in responses if response["statusCode"] != 302),
        "raw_control_or_space_in_location": sum(1 for location in locations if not header_safe(location)),
        "checked_with": "Node.js " + subprocess.check_output(["node", "--version"], text=True).strip() + " URL",  # noqa: S607
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    assert bypasses == []
    assert (status_5xx, figures["non_302"], figures["raw_control_or_space_in_location"]) == (0, 0, 0)
    assert followed >= len(FOLLOWED)  # the generated set follows some too: the check is not vacuous


def test_the_generated_set_is_stable_and_large_enough() -> None:
    cases = generated_cases()
    assert cases == generated_cases()
    assert len(set(cases)) == GENERATED
    assert len(list(itertools.chain(REFUSED, FOLLOWED, cases))) >= 600
