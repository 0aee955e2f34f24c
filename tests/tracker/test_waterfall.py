"""The attribution waterfall (docs/tracker.md), pure: each rule and its confidence, with the clock driven."""

from __future__ import annotations

import pytest

from postback_relay.tracker.models import Click
from postback_relay.tracker.waterfall import attribute, device_confidence, fingerprint_confidence

NOW = 1_795_181_820_000
HOUR = 3_600_000
DAY = 24 * HOUR


def click(age_ms: int, campaign: str = "summer", source: str = "facebook") -> Click:
    return Click(
        app_id="a",
        click_id=f"c{age_ms}",
        clicked_at_ms=NOW - age_ms,
        campaign_id=campaign,
        media_source=source,
        adset="set-1",
        ad="ad-1",
    )


def test_install_referrer_wins_with_full_confidence() -> None:
    result = attribute(NOW, "utm_source=google&utm_campaign=winter", [click(HOUR)], [click(HOUR)])
    assert result.answer() == {
        "success": True,
        "data": {
            "matchType": "install_referrer",
            "confidence": 100,
            "mediaSource": "google",
            "campaignId": "winter",
            "isOrganic": False,
            "attributedTouchTime": None,
        },
    }


def test_a_referrer_without_campaign_data_falls_through_to_clicks() -> None:
    assert attribute(NOW, "foo=bar", [click(HOUR)], []).match_type == "device_id"


@pytest.mark.parametrize(("age", "confidence"), [(HOUR, 100), (DAY, 100), (4 * DAY, 98), (7 * DAY, 95)])
def test_device_id_match_within_seven_days(age: int, confidence: int) -> None:
    result = attribute(NOW, None, [click(age)], [])
    assert (result.match_type, result.confidence, result.attributed_touch_time) == ("device_id", confidence, NOW - age)


def test_device_clicks_older_than_seven_days_do_not_count() -> None:
    assert attribute(NOW, None, [click(7 * DAY + 1)], []).match_type == "organic"


def test_last_touch_wins() -> None:
    result = attribute(NOW, None, [click(3 * DAY, "old"), click(HOUR, "latest"), click(2 * DAY, "middle")], [])
    assert result.campaign_id == "latest"


@pytest.mark.parametrize(("age", "confidence"), [(HOUR // 2, 80), (HOUR, 80), (12 * HOUR, 70), (DAY, 60)])
def test_fingerprint_match_from_80_down_to_60(age: int, confidence: int) -> None:
    result = attribute(NOW, None, [], [click(age)])
    assert (result.match_type, result.confidence) == ("fingerprint", confidence)
    assert fingerprint_confidence(age) == confidence


def test_fingerprints_older_than_a_day_are_not_trusted() -> None:
    assert attribute(NOW, None, [], [click(DAY + 1)]).match_type == "organic"


def test_device_match_beats_fingerprint() -> None:
    assert attribute(NOW, None, [click(2 * DAY, "device")], [click(HOUR, "fp")]).campaign_id == "device"


def test_organic_when_nothing_matches() -> None:
    assert attribute(NOW, None, [], []).answer()["data"] == {
        "matchType": "organic",
        "confidence": None,
        "mediaSource": None,
        "campaignId": None,
        "isOrganic": True,
        "attributedTouchTime": None,
    }


def test_confidence_curves_stay_in_the_seed_ranges() -> None:
    assert all(95 <= device_confidence(age) <= 100 for age in range(0, 7 * DAY, HOUR))
    assert all(60 <= fingerprint_confidence(age) <= 80 for age in range(0, DAY, 60_000))
