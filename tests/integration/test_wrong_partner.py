"""A partner's route refuses another partner's postback with a 400 naming the right route, rather
than mapping it into a wrong event (an AppsFlyer body on the Adjust route used to become an
`[adjust] install`). Over real HTTP into `serve`, out to the strict stand-in for Amplitude."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from postback_relay_tools.local.amplitude_sink import AmplitudeSink
from postback_relay_tools.local.stack import LocalStack
from tests.conftest import TOKEN, fixture_json, stack_with_stand_in


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, AmplitudeSink]]:
    with stack_with_stand_in(Path(tmp_path_factory.mktemp("serve")) / "serve.json") as pair:
        yield pair


@pytest.mark.parametrize(
    ("route", "method", "sender", "fixture", "display"),
    [
        ("adjust", "POST", "appsflyer", "install_ios", "AppsFlyer"),
        ("adjust", "GET", "appsflyer", "install_android", "AppsFlyer"),
        ("appsflyer", "GET", "adjust", "install_ios", "Adjust"),
        ("singular", "POST", "branch", "install_ios", "Branch"),
        ("kochava", "GET", "singular", "install_android", "Singular"),
        ("branch", "POST", "tenjin", "install_ios", "Tenjin"),
        ("custom/liftoff", "GET", "appsflyer", "install_ios", "AppsFlyer"),
    ],
)
def test_another_partners_postback_is_a_400_naming_its_route(
    stack: tuple[LocalStack, AmplitudeSink], route: str, method: str, sender: str, fixture: str, display: str
) -> None:
    local, sink = stack
    sink.clear()
    body = fixture_json(sender, f"{fixture}.json")
    url = f"{local.url}/v1/postbacks/{route}"
    if method == "GET":
        query = {key: str(value) for key, value in body.items() if isinstance(value, (str, int, float))}
        answer = requests.get(url, params={"token": TOKEN, **query}, timeout=10)
    else:
        answer = requests.post(url, params={"token": TOKEN}, json=body, timeout=10)
    assert answer.status_code == 400, answer.text
    refusal = answer.json()
    assert refusal["code"] == "bad_request"
    assert refusal["looks_like"] == sender
    assert refusal["error"].startswith(f"this looks like a{'n' if display[0] in 'AEIOU' else ''} {display} postback (")
    assert refusal["error"].endswith(f"send it to /v1/postbacks/{sender}")
    assert sink.received() == []  # nothing reached Amplitude under the wrong name


def test_each_partners_own_postback_still_passes(stack: tuple[LocalStack, AmplitudeSink]) -> None:
    local, _ = stack
    for route in ("appsflyer", "branch", "singular"):
        body = fixture_json(route, "install_ios.json")
        answer = requests.post(f"{local.url}/v1/postbacks/{route}", params={"token": TOKEN}, json=body, timeout=10)
        assert answer.status_code == 200, (route, answer.text)
