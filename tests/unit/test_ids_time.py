"""Id hygiene and time normalisation: the rules every partner adapter relies on."""

from __future__ import annotations

from typing import Any

import pytest

from postback_relay.ids import clean_gaid, clean_idfa, clean_text, clean_user_id, is_macro
from postback_relay.timeparse import to_epoch_ms

ZEROS = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "  ",
        ZEROS,
        "{idfa}",
        "{{advertising_id}}",
        "${(user_data.idfa)!}",
        "%7Bidfa%7D",
        "null",
        "NULL",
        "undefined",
        "(null)",
        "[IDFA]",
        "__IDFA__",
        0,
        True,
        ["a"],
    ],
)
def test_unusable_device_ids_are_never_sent(value: Any) -> None:
    assert clean_idfa(value) is None
    assert clean_gaid(value) is None


def test_device_ids_are_trimmed_and_cased_as_the_platforms_report_them() -> None:
    assert clean_idfa(" 6d92078a-8246-4ba4-ae5b-76104861e7dc ") == "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert clean_gaid("38400000-8CF0-11BD-B23E-10B96E40000D") == "38400000-8cf0-11bd-b23e-10b96e40000d"


def test_campaign_text_keeps_brackets_and_numbers() -> None:
    assert clean_text("[US] brand") == "[US] brand"
    assert clean_text(42) == "42"
    assert clean_text("{campaign}") is None
    assert is_macro("{{time_in_ms}}")


def test_user_ids_reject_placeholders_and_zero() -> None:
    assert clean_user_id("user-42") == "user-42"
    assert clean_user_id("0") is None
    assert clean_user_id("{customer_user_id}") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20 13:37:00.123", 1_795_181_820_123),  # AppsFlyer: UTC, no offset
        ("2026-11-20 19:07:00.123+0530", 1_795_181_820_123),  # *_selected_timezone twin
        ("2026-11-20T13:37:00Z", 1_795_181_820_000),
        ("2026-11-20T13:37:00.5+00:00", 1_795_181_820_500),
        ("2026-11-20 13:37", 1_795_181_820_000),
        (1_795_181_820, 1_795_181_820_000),  # Adjust: epoch seconds
        ("1795181820", 1_795_181_820_000),
        (1_795_181_820_123, 1_795_181_820_123),  # Branch / Tenjin: epoch ms
        ("1795181820123", 1_795_181_820_123),
        ("1795181820.5", 1_795_181_820_500),
        (1_795_181_820.5, 1_795_181_820_500),
    ],
)
def test_partner_time_formats_become_epoch_ms_utc(value: Any, expected: int) -> None:
    assert to_epoch_ms(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not-a-date",
        "{created_at}",
        "{{time_in_ms}}",
        "2026-13-45 99:00:00",
        "0",
        "12",
        True,
        "99999999999999999",
        "1969-12-31 23:59:59",
        float("nan"),
    ],
)
def test_unreadable_times_are_dropped_not_guessed(value: Any) -> None:
    assert to_epoch_ms(value) is None
