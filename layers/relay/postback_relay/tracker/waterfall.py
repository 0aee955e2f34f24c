"""The attribution waterfall (docs/tracker.md), pure: install referrer → device id → fingerprint → organic.

Last touch wins within the 7-day window. Confidence: install referrer 100; device id 100 within a
day of the click, falling to 95 at seven days; fingerprint 80 within an hour, falling to 60 at a
day, and never counted below 60 or beyond a day (shared IPs make older matches guesses).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl

from .models import Attribution, Click

CLICK_WINDOW_MS = 7 * 24 * 3600 * 1000
FINGERPRINT_WINDOW_MS = 24 * 3600 * 1000
MIN_FINGERPRINT_CONFIDENCE = 60
_HOUR_MS = 3600 * 1000
_DAY_MS = 24 * _HOUR_MS


def from_install_referrer(referrer: str) -> Attribution | None:
    """Google Play's install referrer: `utm_source=facebook&utm_campaign=summer` (or our click's `pid`/`c`)."""
    fields = dict(parse_qsl(referrer, keep_blank_values=False))
    source = fields.get("utm_source") or fields.get("pid")
    campaign = fields.get("utm_campaign") or fields.get("c")
    if not (source or campaign):
        return None
    organic = (source or "").lower() in ("google-play", "(not set)", "organic") and not campaign
    return Attribution(
        match_type="install_referrer",
        confidence=100,
        media_source=source,
        campaign_id=campaign,
        is_organic=organic,
        attributed_touch_time=None,
        adset=fields.get("utm_content") or fields.get("af_adset"),
        ad=fields.get("utm_term") or fields.get("af_ad"),
    )


def _last_touch(clicks: Sequence[Click], now_ms: int, window_ms: int) -> Click | None:
    recent = [click for click in clicks if 0 <= now_ms - click.clicked_at_ms <= window_ms]
    return max(recent, key=lambda click: click.clicked_at_ms, default=None)


def device_confidence(age_ms: int) -> int:
    return 100 if age_ms <= _DAY_MS else round(100 - 5 * (age_ms - _DAY_MS) / (CLICK_WINDOW_MS - _DAY_MS))


def fingerprint_confidence(age_ms: int) -> int:
    if age_ms <= _HOUR_MS:
        return 80
    return round(80 - 20 * (age_ms - _HOUR_MS) / (FINGERPRINT_WINDOW_MS - _HOUR_MS))


def _from_click(click: Click, match_type: str, confidence: int) -> Attribution:
    return Attribution(
        match_type=match_type,
        confidence=confidence,
        media_source=click.media_source,
        campaign_id=click.campaign_id,
        is_organic=False,
        attributed_touch_time=click.clicked_at_ms,
        adset=click.adset,
        ad=click.ad,
    )


def attribute(
    now_ms: int,
    install_referrer: str | None,
    device_clicks: Sequence[Click],
    fingerprint_clicks: Sequence[Click],
) -> Attribution:
    if install_referrer:
        referred = from_install_referrer(install_referrer)
        if referred is not None:
            return referred
    click = _last_touch(device_clicks, now_ms, CLICK_WINDOW_MS)
    if click is not None:
        return _from_click(click, "device_id", device_confidence(now_ms - click.clicked_at_ms))
    click = _last_touch(fingerprint_clicks, now_ms, FINGERPRINT_WINDOW_MS)
    if click is not None:
        confidence = fingerprint_confidence(now_ms - click.clicked_at_ms)
        if confidence >= MIN_FINGERPRINT_CONFIDENCE:
            return _from_click(click, "fingerprint", confidence)
    return Attribution(match_type="organic", is_organic=True)
