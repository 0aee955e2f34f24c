"""`postback-relay verify`: did the campaign land on the user? Asks the Dashboard REST API and says
plainly what is there, what is missing, and the likely reasons.

Two things land separately, and are reported separately, per partner:
- the campaign **properties**: set by the relay's Identify as soon as the postback names the app's
  user, or by the attribution event once Amplitude applies it;
- the **attribution event** (`[AppsFlyer] Install`, ...): Amplitude's Attribution API holds it until
  an event from the same device (same IDFA / IDFV / advertising id) arrives, for up to 72 h from
  receipt, then drops it. It is "matched" once it is in the user's event stream.

Amplitude does not show held events: "held" is inferred from what is missing, and its window is
counted from the postback's own time (its install or touch time property) on Amplitude's clock.
Pure apart from the client it is given; `now_ms` is an input.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from postback_relay.models.postback import Kind
from postback_relay.partners import Convention

from .dashboard import DashboardClient

HOLD_HOURS = 72
_HOUR_MS = 3_600_000

# Attribution properties and events carry a partner label: "[AppsFlyer] campaign", "[adjust] network".
_LABEL = re.compile(r"^(\[[^\]]+\]) ")
_ATTRIBUTION_EVENT = re.compile(r"^\[[^\]]+\] (install|reinstall|re-?engagement|re-?attribution)$", re.IGNORECASE)

Status = Literal["matched", "held", "dropped"]


@lru_cache(maxsize=1)
def _conventions() -> dict[str, Convention]:
    """Every partner's naming, by label ("[AppsFlyer]")."""
    from postback_relay.partners.registry import coded_partners, custom_networks

    adapters = [*coded_partners().values(), *custom_networks().values()]
    return {adapter.convention.label: adapter.convention for adapter in adapters}


def _time_property_names(convention: Convention | None, *fields: str) -> set[str]:
    if convention is None:
        return set()
    names: set[str] = set()
    for name in fields:
        if name in convention.properties:
            names |= {convention.property_name(name), convention.initial_property_name(name)}
    return names


def iso_utc(ms: int | float) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the second: 2026-11-23T12:00:00Z."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _event_time_ms(event: dict[str, Any]) -> int | None:
    """useractivity's "2026-11-23 12:00:00.000000" (UTC, export style) as epoch ms."""
    raw = event.get("event_time")
    if not isinstance(raw, str):
        return _epoch_ms(raw)
    try:
        parsed = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return int(parsed.replace(tzinfo=parsed.tzinfo or dt.UTC).timestamp() * 1000)


def _hours(ms: int) -> str:
    hours = ms / _HOUR_MS
    return f"{hours:.0f} h" if hours >= 1 else f"{max(1, round(ms / 60_000))} min"


@dataclass
class PartnerVerdict:
    """One partner's campaign on the user: its properties and its attribution event."""

    label: str
    properties: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: Status = "held"
    postback_time: str | None = None
    hold_ends: str | None = None
    hold_left_s: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Verdict:
    lookup: str
    found: bool
    now: str | None = None
    amplitude_id: int | None = None
    user_id: str | None = None
    device_ids: list[str] = field(default_factory=list)
    app_events: int = 0
    partners: list[PartnerVerdict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def attributed(self) -> bool:
        """Every partner's attribution event is in the user's stream (properties alone are not enough)."""
        return bool(self.partners) and all(partner.status == "matched" for partner in self.partners)

    @property
    def attribution_properties(self) -> dict[str, Any]:
        return {name: value for partner in self.partners for name, value in partner.properties.items()}

    @property
    def attribution_events(self) -> list[dict[str, Any]]:
        return [event for partner in self.partners for event in partner.events]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lookup": self.lookup,
            "found": self.found,
            "now": self.now,
            "amplitude_id": self.amplitude_id,
            "user_id": self.user_id,
            "device_ids": self.device_ids,
            "app_events": self.app_events,
            "attributed": self.attributed,
            "partners": [partner.as_dict() for partner in self.partners],
            "attribution_properties": self.attribution_properties,
            "attribution_events": self.attribution_events,
            "problems": self.problems,
        }

    def text(self) -> str:
        lines = [f"Lookup: {self.lookup} (as of {self.now or '-'}, Amplitude's clock)"]
        if not self.found:
            lines.append("No Amplitude user matches.")
        else:
            lines.append(
                f"Amplitude user {self.amplitude_id} (user_id {self.user_id or '-'}; "
                f"devices {', '.join(self.device_ids) or '-'}; {self.app_events} event(s) from the app)"
            )
            if not self.partners:
                lines.append("Attribution: none on this user.")
            for partner in self.partners:
                lines += self._partner_lines(partner)
        lines += [f"- {problem}" for problem in self.problems]
        return "\n".join(lines)

    def _partner_lines(self, partner: PartnerVerdict) -> list[str]:
        convention = _conventions().get(partner.label)
        times = _time_property_names(convention, "install_time", "touch_time")
        lines = [partner.label]
        if not partner.properties:
            lines.append("  Properties: none set (the postback named no user id, so no Identify was sent)")
        elif partner.status == "matched":
            lines.append("  Properties: set")
        else:
            lines.append("  Properties: set, by the relay's Identify (the attribution event is not applied yet)")
        for name, value in sorted(partner.properties.items()):
            millis = _epoch_ms(value) if name in times else None
            lines.append(f"    {name}: {iso_utc(millis) if millis is not None else value}")
        if partner.status == "matched":
            for event in partner.events:
                lines.append(f"  Attribution event: matched: {event['event_type']} at {event['event_time'] or '-'}")
            return lines
        install = convention.event_type(Kind.INSTALL, None) if convention else f"{partner.label} Install"
        missing = (
            "no event from the app on this user's device yet"
            if not self.app_events
            else f"the app's {self.app_events} event(s) so far carried none of the postback's device ids"
        )
        since = f" from the postback's time {partner.postback_time}" if partner.postback_time else ""
        if partner.status == "held":
            left = (
                f"about {_hours(partner.hold_left_s * 1000)} left (until {partner.hold_ends}, {HOLD_HOURS} h{since})"
                if partner.hold_left_s is not None
                else f"the postback's time is unknown, so how long is left is too (at most {HOLD_HOURS} h)"
            )
            lines.append(
                f"  Attribution event: not matched yet, held by Amplitude: {missing}. Amplitude keeps the "
                f"{install} (or re-engagement) event until an event from the same device (same IDFA, IDFV or "
                f"advertising id) arrives, for up to {HOLD_HOURS} h: {left}."
            )
        else:
            lines.append(
                f"  Attribution event: not matched within {HOLD_HOURS} h{since} ({missing}): Amplitude has most "
                f"likely dropped the {install} event (the properties above stay)."
            )
        return lines


def verify(client: DashboardClient, user: str, kind: str, now_ms: Callable[[], int]) -> Verdict:
    """`kind`: "user" (the app's user id) or "device" (Amplitude device id). `now_ms`: Amplitude's
    clock (the Dashboard's Date header), read once the lookups are done; the 72 h hold runs on it."""
    verdict = Verdict(lookup=f"{kind} {user}", found=False)
    matches = client.usersearch(user)
    if not matches:
        verdict.now = iso_utc(now_ms())
        verdict.problems += _why_no_user()
        return verdict
    match = matches[0]
    verdict.found = True
    verdict.amplitude_id = int(match["amplitude_id"])
    activity = client.useractivity(verdict.amplitude_id)
    now = now_ms()
    verdict.now = iso_utc(now)
    data = activity.get("userData", {})
    verdict.user_id = data.get("user_id") or match.get("user_id")
    verdict.device_ids = list(data.get("device_ids") or [])
    events = [event for event in activity.get("events", []) if isinstance(event, dict)]
    attribution = [event for event in events if _ATTRIBUTION_EVENT.match(str(event.get("event_type", "")))]
    # Identify calls may show up as "$identify"; neither they nor attribution events come from the app.
    verdict.app_events = sum(
        1 for event in events if event not in attribution and not str(event.get("event_type", "")).startswith("$")
    )
    by_label: dict[str, PartnerVerdict] = {}
    for name, value in (data.get("properties") or {}).items():
        label = _LABEL.match(str(name))
        if label:
            by_label.setdefault(label[1], PartnerVerdict(label[1])).properties[str(name)] = value
    for event in sorted(attribution, key=lambda e: _event_time_ms(e) or 0):
        label = _LABEL.match(str(event["event_type"]))
        assert label is not None  # _ATTRIBUTION_EVENT starts with a label
        millis = _event_time_ms(event)
        by_label.setdefault(label[1], PartnerVerdict(label[1])).events.append(
            {"event_type": event["event_type"], "event_time": iso_utc(millis) if millis is not None else None}
        )
    for partner in by_label.values():
        _judge(partner, now)
    verdict.partners = sorted(by_label.values(), key=lambda partner: partner.label.lower())
    if not verdict.partners:
        verdict.problems += [
            "The user exists but carries no attribution. Likely reasons:",
            f"  the attribution event is still held: Amplitude waits up to {HOLD_HOURS} h for an event from the "
            "app whose idfa/idfv/adid matches the postback's, then drops it (with no user id in the postback "
            "there is no Identify, so nothing shows until then);",
            *_why_not_matched(),
        ]
    elif not verdict.attributed:
        verdict.problems += ["Why an attribution event does not match:", *_why_not_matched()]
    if len(matches) > 1:
        verdict.problems.append(f"{len(matches)} users matched; showing the first.")
    return verdict


def _judge(partner: PartnerVerdict, now_ms: int) -> None:
    if partner.events:
        partner.status = "matched"
        return
    convention = _conventions().get(partner.label)
    times = [
        millis
        for name in _time_property_names(convention, "install_time", "touch_time")
        if not name.startswith(f"{partner.label} initial ")
        and (millis := _epoch_ms(partner.properties.get(name))) is not None
    ]
    if not times:
        partner.status = "held"
        return
    # The latest of install and touch time: the install for an install, the touch for a re-engagement.
    postback_ms = max(times)
    # Amplitude counts from its receipt, which is no later than now: a postback time ahead of
    # Amplitude's clock (a test fixture, a skewed partner clock) leaves at most the whole 72 h.
    ends_ms = min(postback_ms, now_ms) + HOLD_HOURS * _HOUR_MS
    partner.postback_time, partner.hold_ends = iso_utc(postback_ms), iso_utc(ends_ms)
    if ends_ms > now_ms:
        partner.status, partner.hold_left_s = "held", (ends_ms - now_ms) // 1000
    else:
        partner.status = "dropped"


def _why_not_matched() -> list[str]:
    return [
        "  the SDK does not send advertising ids (iOS: no ATT consent or adid tracking off; Android: enable the "
        "advertising id in the SDK), so nothing matched;",
        "  the postback carried a different id than the SDK (e.g. IDFA vs IDFV), or reached Amplitude late "
        "(its 72 h then run from the relay's last retry);",
        "  the postback never reached Amplitude: check `postback-relay dlq list` for dead letters.",
    ]


def _why_no_user() -> list[str]:
    return [
        "Likely reasons:",
        "  the app's SDK has not sent an event for this user yet, and the postback named no user id (no Identify): "
        f"an attribution on its own creates no user (Amplitude holds it up to {HOLD_HOURS} h for a matching SDK "
        "event, then drops it);",
        "  --device needs the device id the SDK reports (iOS: the IDFV by default), not the advertising id;",
        "  a different project (API key) or data centre (US vs EU) than the one queried;",
        "  the postback never reached Amplitude: check `postback-relay dlq list` for dead letters.",
    ]
