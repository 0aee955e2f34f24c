"""The operator's commands that need no running stack: postback-url and try."""

from __future__ import annotations

import json

import pytest

from postback_relay_tools.cli import main
from tests.conftest import FIXTURES

BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com"


def test_postback_url_for_a_json_partner(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["postback-url", "appsflyer", "--base", BASE + "/", "--token", "t0k"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{BASE}/v1/postbacks/appsflyer?token=t0k"
    assert "POST" in err


def test_postback_url_for_an_unknown_partner_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["postback-url", "nobody", "--base", BASE]) == 2
    assert "appsflyer" in capsys.readouterr().err


def test_try_prints_the_amplitude_requests_without_sending(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "appsflyer", str(FIXTURES / "appsflyer" / "install_ios.json")]) == 0
    requests = json.loads(capsys.readouterr().out)
    assert [r["url"] for r in requests] == [
        "https://api2.amplitude.com/attribution",
        "https://api2.amplitude.com/identify",
    ]
    attribution = requests[0]["form"]
    assert attribution["api_key"] == "<AMPLITUDE_API_KEY>"  # never the real key
    assert attribution["event"]["event_type"] == "[AppsFlyer] Install"


def test_try_reads_a_filled_in_callback_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = (
        "https://relay.example/v1/postbacks/appsflyer?token=secret&event_type=install&platform=android"
        "&advertising_id=38400000-8CF0-11BD-B23E-10B96E40000D&media_source=unityads_int"
    )
    assert main(["try", "appsflyer", url]) == 0
    [request] = json.loads(capsys.readouterr().out)
    assert request["form"]["event"]["adid"] == "38400000-8cf0-11bd-b23e-10b96e40000d"


def test_try_explains_an_undeliverable_postback(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://relay.example/v1/postbacks/appsflyer?event_type=install&platform=ios&idfa={idfa}"
    assert main(["try", "appsflyer", url]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == 422
    assert "idfa or idfv" in answer["error"]


def test_try_says_a_skan_callback_is_not_forwarded(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://relay.example/v1/postbacks/adjust?activity_kind=sk_install&sk_network_id=cstr6suwn9.skadnetwork"
    assert main(["try", "adjust", url]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["status"], answer["code"]) == (200, "not_forwarded")
    assert "SKAdNetwork" in answer["reason"]


def test_try_shows_ad_revenue_as_http_v2_revenue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "adjust", str(FIXTURES / "adjust" / "ad_revenue.json")]) == 0
    [request] = json.loads(capsys.readouterr().out)
    [event] = request["json"]["events"]
    assert (event["event_type"], event["revenue"], event["currency"]) == ("[adjust] ad_revenue", 0.0125, "EUR")
    assert event["revenueType"] == "ad_revenue"


@pytest.mark.parametrize(
    ("partner", "fragments"),
    [
        (
            "adjust",
            [
                "/v1/postbacks/adjust?token=t0k&",
                "gps_adid={gps_adid}",
                "campaign_name={campaign_name}",
                "created_at={created_at}",
            ],
        ),
        ("tenjin", ["/v1/postbacks/tenjin?token=t0k&", "advertising_id={{advertising_id}}"]),
        ("kochava", ["/v1/postbacks/kochava?token=t0k&", "adid={adid}"]),
        ("custom/unity-ads", ["/v1/postbacks/custom/unity-ads?token=t0k&", "ifa={ifa}", "ts={ts}"]),
    ],
)
def test_postback_url_carries_the_partners_macros_under_their_own_names(
    capsys: pytest.CaptureFixture[str], partner: str, fragments: list[str]
) -> None:
    assert main(["postback-url", partner, "--base", BASE + "/v1/postbacks", "--token", "t0k"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith(BASE + "/v1/postbacks/")
    for fragment in fragments:
        assert fragment in url
