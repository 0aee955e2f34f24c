"""Named switches for what Amplitude does not document ([U] below; [D]: documented by Amplitude).

The table of them: docs/emulator.md#settings-for-what-amplitude-does-not-document.

Each field is a guess made explicit: the default is the emulator's best reading of the docs, and a test
or a developer who knows better can change it without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DEFAULT_OPERATION_ORDER", "EmulatorSettings"]

# The order in which one identification's operators are applied when several touch the same property [U].
# $clearAll first (it wipes what came before), then removal, then the writes.
DEFAULT_OPERATION_ORDER: tuple[str, ...] = (
    "$clearAll",
    "$unset",
    "$setOnce",
    "$set",
    "$add",
    "$append",
    "$prepend",
    "$preInsert",
    "$postInsert",
    "$remove",
)


@dataclass(frozen=True)
class EmulatorSettings:
    """Behaviour of the emulator where Amplitude's documentation is silent or contradictory."""

    # --- Attribution API (https://amplitude.com/docs/apis/analytics/attribution)
    accept_json_attribution: bool = False
    """Accept `Content-Type: application/json` bodies on /attribution (never documented) [U]."""
    accept_json_identify: bool = False
    """Accept JSON bodies on /identify (the docs say form-data or urlencoded only) [U]."""
    platform_case_insensitive: bool = False
    """Accept `iOS` / `Android` as well as the documented lower-case values [U]."""
    attribution_hold_hours: float = 72.0
    """How long an unmatched attribution event is parked before it is dropped [D: 72 h]."""
    match_device_id_as_advertising_id: bool = True
    """Also match a held attribution event when an HTTP V2 event's `device_id` equals its idfa/idfv/adid/app set
    id (the iOS SDK uses the IDFV and older Android SDKs the ADID as device id) [U]."""
    strip_adid_from_attribution_events: bool = True
    """Drop `adid` from the attribution event as stored (partner pages say Amplitude strips it) [D, indirect]."""
    throttle_attribution: bool = False
    """Count /attribution requests in the per-device throttle (no limit is documented for it) [U]."""

    # --- Identify / user properties (https://amplitude.com/docs/apis/analytics/identify)
    operation_order: tuple[str, ...] = DEFAULT_OPERATION_ORDER
    """Order of application when one identification uses several operators [U]."""
    add_to_non_numeric: Literal["ignore", "replace"] = "ignore"
    """`$add` on an existing non-numeric value: leave it, or replace it with the increment [U]."""
    insert_into_scalar: Literal["listify", "ignore"] = "listify"
    """`$preInsert`/`$postInsert`/`$remove` on an existing scalar: treat it as a one-item list, or do nothing [U]."""
    reject_mixed_httpapi_user_properties: bool = True
    """HTTP V2 `user_properties` mixing operators and plain keys → 400 like Identify (status [U])."""

    # --- HTTP V2 (https://amplitude.com/docs/apis/analytics/http-v2)
    insert_id_dedup_days: float = 7.0
    """How long an `insert_id` is remembered [D: 7 days]."""
    dedup_scope: Literal["device", "insert_id"] = "device"
    """`device`: dedup key is (device_id or user_id, insert_id), the current wording; `insert_id`: the id alone,
    the older / Batch wording [D, two versions]."""

    # --- Throttling (https://amplitude.com/docs/apis/analytics/http-v2#upload-limit; docs/emulator.md)
    eps_threshold: int = 30
    """Events per second per device_id and per user_id, averaged over `throttle_window_s` [D: 30; older docs 10]."""
    throttle_window_s: float = 30.0
    """The averaging window of the events-per-second limit [D for Batch: 30 s]."""

    # --- Dashboard REST API (https://amplitude.com/docs/apis/analytics/dashboard-rest; docs/emulator.md)
    max_concurrent_queries: int = 5
    """Concurrent Dashboard requests per project [D]."""
    user_lookups_per_hour: int = 360
    """useractivity + usersearch queries per hour [D]."""
    cost_per_5_minutes: int = 1000
    """Query-cost budget per sliding 5-minute window [D]."""
    cost_per_hour: int = 108_000
    """Query-cost budget per sliding hour [D]."""
    utc_offset_minutes: int = 0
    """Project time zone used to turn event times into `YYYYMMDD` days (the emulator's project is UTC) [U]."""
    week_starts_on: int = 6
    """Weekday (Python numbering, 6 = Sunday) that starts an `i=7` interval [U]."""
    usersearch_advertising_ids: bool = False
    """Let usersearch also match idfa/idfv/adid/app set ids (real usersearch only documents user id, device id,
    Amplitude id and user-id prefix) [U]. Handy for local `verify --idfa`."""
    unknown_user_status: int = 400
    """Status of useractivity for an unknown Amplitude ID [U]."""
    retention_max_intervals: int = 90
    """Cap on how many intervals (days/weeks/months) a retention row carries [U]."""
    ltv_days: tuple[int, ...] = field(default=(1, 2, 3, 4, 5, 6, 7, 14, 30, 60, 90))
    """The `rNd` keys of revenue/ltv values [D: r1d…r90d; the exact list is U]."""
