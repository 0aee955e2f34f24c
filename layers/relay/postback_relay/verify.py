"""`postback-relay verify`: did the campaign land on the user? Asks the Dashboard REST API and says
plainly what is there, what is missing, and the likely reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .dashboard import DashboardClient

# Attribution properties and events carry a partner label: "[AppsFlyer] campaign", "[adjust] network".
_LABELLED = re.compile(r"^\[[^\]]+\] ")
_ATTRIBUTION_EVENT = re.compile(r"^\[[^\]]+\] (install|reinstall|re-?engagement|re-?attribution)$", re.IGNORECASE)


@dataclass
class Verdict:
    lookup: str
    found: bool
    amplitude_id: int | None = None
    user_id: str | None = None
    device_ids: list[str] = field(default_factory=list)
    attribution_properties: dict[str, Any] = field(default_factory=dict)
    attribution_events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def attributed(self) -> bool:
        return bool(self.attribution_properties or self.attribution_events)

    def text(self) -> str:
        lines = [f"Lookup: {self.lookup}"]
        if not self.found:
            lines.append("No Amplitude user matches.")
        else:
            lines.append(
                f"Amplitude user {self.amplitude_id} (user_id {self.user_id or '-'}; "
                f"devices {', '.join(self.device_ids) or '-'})"
            )
            if self.attributed:
                lines.append("Attribution: yes")
                lines += [f"  {name}: {value}" for name, value in sorted(self.attribution_properties.items())]
                lines += [
                    f"  event {event.get('event_type')} at {event.get('event_time')}"
                    for event in self.attribution_events
                ]
            else:
                lines.append("Attribution: none on this user.")
        lines += [f"- {problem}" for problem in self.problems]
        return "\n".join(lines)


def verify(client: DashboardClient, user: str, kind: str) -> Verdict:
    """`kind`: "user" (the app's user id), "device" (Amplitude device id) or "idfa" (advertising id)."""
    verdict = Verdict(lookup=f"{kind} {user}", found=False)
    matches = client.usersearch(user)
    if not matches:
        verdict.problems += _why_no_user(kind)
        return verdict
    match = matches[0]
    verdict.found = True
    verdict.amplitude_id = int(match["amplitude_id"])
    activity = client.useractivity(verdict.amplitude_id)
    data = activity.get("userData", {})
    verdict.user_id = data.get("user_id") or match.get("user_id")
    verdict.device_ids = list(data.get("device_ids") or [])
    properties = data.get("properties") or {}
    verdict.attribution_properties = {k: v for k, v in properties.items() if _LABELLED.match(str(k))}
    verdict.attribution_events = [
        event for event in activity.get("events", []) if _ATTRIBUTION_EVENT.match(str(event.get("event_type", "")))
    ]
    if not verdict.attributed:
        verdict.problems += [
            "The user exists but carries no attribution. Likely reasons:",
            "  the attribution event is still held: Amplitude waits up to 72 h for an SDK event whose "
            "idfa/idfv/adid matches the postback's, then drops it;",
            "  the SDK does not send advertising ids (iOS: no ATT consent or adid tracking off; Android: "
            "enable the advertising id in the SDK), so nothing matched;",
            "  the postback carried a different id than the SDK (e.g. IDFA vs IDFV), or the app's user id was "
            "not sent with it (no Identify);",
            "  the postback never reached Amplitude: check `postback-relay dlq list` for dead letters.",
        ]
    if len(matches) > 1:
        verdict.problems.append(f"{len(matches)} users matched; showing the first.")
    return verdict


def _why_no_user(kind: str) -> list[str]:
    reasons = ["Likely reasons:"]
    if kind == "idfa":
        reasons.append(
            "  Amplitude's user search finds user ids, device ids and Amplitude ids, not advertising ids: "
            "on iOS look up the IDFV (the SDK's default device id), on Android the device id the SDK reports;"
        )
    reasons += [
        "  the app's SDK has not sent an event for this user yet: an attribution on its own creates no user "
        "(Amplitude holds it up to 72 h for a matching SDK event, then drops it);",
        "  a different project (API key) or data centre (US vs EU) than the one queried;",
        "  the postback never reached Amplitude: check `postback-relay dlq list` for dead letters.",
    ]
    return reasons
