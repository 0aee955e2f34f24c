"""`postback-relay compare`: the relay in shadow mode beside a native integration, checked user by user.

The archived postbacks of some days are re-mapped as `replay` does them, dry (the archived postback_id,
erasures skipped), and for each person they concern Amplitude's Dashboard REST API
(https://amplitude.com/docs/apis/analytics/dashboard-rest) is asked what the native integration already
put there: its install event and its attribution user properties, under the same names the relay uses
("[AppsFlyer] campaign", "[adjust] network"). Each person is then matched (same media source / network
and campaign; channel, ad set and ad where both sides have one), differing (naming the properties), or
missing in Amplitude. Amplitude cannot list its users by name, so "missing in the relay" is a count: the
users Amplitude counts with the partner's install event on those days, less the relay's install users it
found there.

User lookups are Amplitude's scarcest budget (usersearch + useractivity: 360 an hour per project),
so at most `max_users` people are looked up, a stable sample by hash when there are more, one query
at a time, and a 429 is waited out with exponential backoff (`Pacer`, its clock injected) rather
than hammered.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, Literal

from postback_relay.archive import Archive, ArchivedPostback
from postback_relay.core import replan
from postback_relay.errors import NotForwarded
from postback_relay.mapping import amplitude_device_id
from postback_relay.models.amplitude import AmplitudeCall
from postback_relay.models.postback import Kind, Postback
from postback_relay.partners import PartnerAdapter
from postback_relay.partners.registry import is_custom_network

from .dashboard import DashboardClient, DashboardError
from .erasures import Erasures

# Who gets the credit, for what: compared always (absent on one side only is a difference).
KEY_FIELDS = ("media_source", "campaign")
# Finer grain that native integrations and postback templates do not always carry: compared when
# both sides have a value.
DETAIL_FIELDS = ("channel", "adset", "ad")
DEFAULT_MAX_USERS = 100  # ≤ 3 lookups each: within one hour's 360, with room for `verify`
# A 429 names no wait (https://amplitude.com/docs/apis/analytics/dashboard-rest): back off from 30 s,
# doubling to 15 min, for a little more than the hour the lookup budget is counted over, then give up
# naming the fix.
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 900.0
MAX_WAIT_S = 3900.0
_ATTRIBUTION_KINDS = (Kind.INSTALL, Kind.REINSTALL, Kind.RE_ENGAGEMENT, Kind.RE_ATTRIBUTION)

Verdict = Literal["matched", "differing", "missing_in_amplitude"]


class CompareError(RuntimeError):
    """compare cannot go on; the message names the problem and the fix."""


@dataclass
class Pacer:
    """One Dashboard query at a time; each 429 waited out with backoff on an injected clock."""

    sleep: Callable[[float], None] = time.sleep
    base_s: float = BACKOFF_BASE_S
    cap_s: float = BACKOFF_CAP_S
    max_wait_s: float = MAX_WAIT_S
    waited_s: float = 0.0
    queries: int = 0
    throttled: int = 0

    def call(self, query: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        waited_here, attempt = 0.0, 0
        while True:
            self.queries += 1
            try:
                return query()
            except DashboardError as error:
                if not _rate_limited(error):
                    raise
                self.throttled += 1
                wait = min(self.cap_s, self.base_s * 2**attempt)
                if waited_here + wait > self.max_wait_s:
                    raise CompareError(
                        f"Amplitude's Dashboard API still answered 429 after {waited_here:.0f} s of backoff "
                        f"({' '.join(str(error).split())[:200]}); compare fewer users (--max-users) or retry in an hour"
                    ) from None
                self.sleep(wait)
                waited_here += wait
                self.waited_s += wait
                attempt += 1


def _rate_limited(error: DashboardError) -> bool:
    # dashboard.py words every 429 as "... (429): <Amplitude's body>".
    return getattr(error, "status", None) == 429 or "(429)" in str(error)


@dataclass(frozen=True)
class RemappedPostback:
    """An archived postback mapped again, as `replay` maps it."""

    item: ArchivedPostback
    postback: Postback
    calls: list[AmplitudeCall]


@dataclass
class Tally:
    """What the archive held for the days, before any Amplitude query."""

    postbacks: int = 0
    shadowed: int = 0
    erased: int = 0
    undeliverable: int = 0
    # SKAdNetwork postbacks: answered not_forwarded, never sent, nothing to compare.
    not_forwarded: int = 0
    in_app_events: int = 0


def remapped(
    archive: Archive, adapter: PartnerAdapter, since: date, until: date, erasures: Erasures | None, tally: Tally
) -> Iterator[RemappedPostback]:
    """The days' archived postbacks through the same mapping as `replay`, dry: the archived
    postback_id (so the same insert_ids), forgotten persons skipped, undeliverable ones counted."""
    for item in archive.read(adapter.name, since, until, shared=is_custom_network(adapter)):
        tally.postbacks += 1
        tally.shadowed += item.shadowed
        # Refused now as replay would refuse it (no format check: see `replan`): undeliverable.
        replanned = replan(adapter, item.raw, item.postback_id)
        postback, calls = replanned.postback, replanned.calls
        if erasures is not None and erasures.covers_archived(item, postback):
            tally.erased += 1
            continue
        if isinstance(replanned.refusal, NotForwarded):
            tally.not_forwarded += 1
            continue
        if postback is None or not calls:
            tally.undeliverable += 1
            continue
        yield RemappedPostback(item, postback, calls)


@dataclass
class Person:
    """One user or device of the archive: the lookups that can find it in Amplitude, and what the
    relay's latest attribution postback for it would set."""

    key: str
    lookups: tuple[str, ...]
    postback_id: str = ""
    received_at_ms: int = -1
    installed: bool = False
    properties: dict[str, str] = field(default_factory=dict)


def _mapped_properties(calls: list[AmplitudeCall]) -> dict[str, str]:
    """The user properties the calls would set: the attribution event's, else the Identify's `$set`."""
    properties: dict[str, Any] = {}
    for call in calls:
        if call.endpoint == "attribution":
            properties = {**(call.payload.get("user_properties") or {}), **properties}
        elif call.endpoint == "identify":
            user_properties = call.payload.get("user_properties") or {}
            properties = {**properties, **(user_properties.get("$set") or {})}
    return {name: str(value) for name, value in properties.items() if value is not None}


def people(postbacks: Iterator[RemappedPostback], tally: Tally) -> dict[str, Person]:
    """Each person's latest attribution postback (installs, re-engagements, re-attributions)."""
    found: dict[str, Person] = {}
    for remap in postbacks:
        postback = remap.postback
        if postback.kind not in _ATTRIBUTION_KINDS:
            tally.in_app_events += 1
            continue
        device = amplitude_device_id(postback)
        lookups = tuple(term for term in (postback.user_id, device) if term)
        if not lookups:  # no id Amplitude's user search knows (an advertising id alone)
            tally.undeliverable += 1
            continue
        person = found.setdefault(lookups[0], Person(lookups[0], lookups))
        person.installed |= postback.kind is Kind.INSTALL
        if remap.item.received_at_ms >= person.received_at_ms:
            person.postback_id = remap.item.postback_id
            person.received_at_ms = remap.item.received_at_ms
            person.properties = _mapped_properties(remap.calls)
    return found


def sample(persons: Mapping[str, Person], max_users: int) -> list[Person]:
    """At most `max_users`, chosen by a hash of their key: stable from run to run, spread over the days."""
    ordered = sorted(persons.values(), key=lambda p: hashlib.sha256(p.key.encode()).hexdigest())
    return ordered[:max_users]


@dataclass(frozen=True)
class Comparison:
    postback_id: str
    verdict: Verdict
    installed: bool
    native_install: bool = False
    # property name -> {"relay": value or None, "amplitude": value or None}
    differences: dict[str, dict[str, str | None]] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Naming:
    """The partner's names in Amplitude, shared by the relay and the native integration."""

    label: str
    install_event: str
    attribution_events: frozenset[str]
    key_properties: tuple[str, ...]
    detail_properties: tuple[str, ...]

    @classmethod
    def of(cls, adapter: PartnerAdapter) -> Naming:
        convention = adapter.convention
        present = convention.properties
        return cls(
            label=convention.label,
            install_event=convention.event_type(Kind.INSTALL, None),
            attribution_events=frozenset(convention.event_type(kind, None) for kind in _ATTRIBUTION_KINDS),
            key_properties=tuple(convention.property_name(f) for f in KEY_FIELDS if f in present),
            detail_properties=tuple(convention.property_name(f) for f in DETAIL_FIELDS if f in present),
        )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def look_up(client: DashboardClient, pacer: Pacer, person: Person) -> dict[str, Any] | None:
    """The person's Amplitude user (userData and events), or None: user id first, then device id.
    A user-id prefix match is not the person."""
    for term in person.lookups:
        answer = pacer.call(partial(client.get, "usersearch", user=term))
        matches = answer.get("matches") or []
        if answer.get("type") == "match_user_prefix":
            matches = [m for m in matches if m.get("user_id") == term]
        if matches:
            amplitude_id = matches[0]["amplitude_id"]
            return pacer.call(partial(client.get, "useractivity", user=amplitude_id, limit=1000, direction="earliest"))
    return None


def judge(person: Person, activity: dict[str, Any] | None, naming: Naming) -> Comparison:
    if activity is None:
        return Comparison(person.postback_id, "missing_in_amplitude", person.installed, reason="no such user")
    data = activity.get("userData") or {}
    current = data.get("properties") or {}
    native = [e for e in activity.get("events") or [] if e.get("event_type") in naming.attribution_events]
    install = next((e for e in native if e.get("event_type") == naming.install_event), None)
    labelled = {name for name in current if str(name).startswith(naming.label + " ")}
    if not native and not labelled:
        return Comparison(
            person.postback_id, "missing_in_amplitude", person.installed, reason="no attribution on the user"
        )

    def amplitude_value(name: str) -> str | None:
        # The user's current value; else what the native install event carried when it happened.
        value = _text(current.get(name))
        if value is None and install is not None:
            value = _text((install.get("user_properties") or {}).get(name))
        return value

    differences: dict[str, dict[str, str | None]] = {}
    for name in (*naming.key_properties, *naming.detail_properties):
        relay, amplitude = _text(person.properties.get(name)), amplitude_value(name)
        detail = name in naming.detail_properties
        if relay != amplitude and not (detail and (relay is None or amplitude is None)):
            differences[name] = {"relay": relay, "amplitude": amplitude}
    return Comparison(
        person.postback_id,
        "differing" if differences else "matched",
        person.installed,
        native_install=install is not None,
        differences=differences,
    )


def _amplitude_installs(client: DashboardClient, pacer: Pacer, naming: Naming, since: date, until: date) -> int:
    """Distinct users with the partner's install event on those days (one segmentation query)."""
    answer = pacer.call(
        partial(
            client.get,
            "events/segmentation",
            e={"event_type": naming.install_event},
            m="uniques",
            start=since.strftime("%Y%m%d"),
            end=until.strftime("%Y%m%d"),
        )
    )
    collapsed = (answer.get("data") or {}).get("seriesCollapsed") or []
    return int(collapsed[0][0]["value"]) if collapsed and collapsed[0] else 0


@dataclass
class PartnerComparison:
    partner: str
    install_event: str
    since: date
    until: date
    tally: Tally
    users: int
    results: list[Comparison]
    amplitude_installs: int
    relay_installs: int
    pacer: Pacer

    def count(self, verdict: Verdict) -> int:
        return sum(result.verdict == verdict for result in self.results)

    @property
    def compared(self) -> int:
        return len(self.results)

    @property
    def differing_by_property(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            for name in result.differences:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def missing_in_relay(self) -> tuple[int, bool]:
        """(count, estimated): Amplitude's install users less the relay's install users it has; scaled
        from the sample when not everyone was looked up."""
        looked_up = [r for r in self.results if r.installed]
        found = sum(r.native_install for r in looked_up)
        if self.compared == self.users or not looked_up:
            return max(0, self.amplitude_installs - found), False
        scaled = round(self.relay_installs * found / len(looked_up))
        return max(0, self.amplitude_installs - scaled), True

    def summary(self) -> dict[str, Any]:
        missing, estimated = self.missing_in_relay
        return {
            "partner": self.partner,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "archived": self.tally.postbacks,
            "shadowed": self.tally.shadowed,
            "erased": self.tally.erased,
            "undeliverable": self.tally.undeliverable,
            "not_forwarded": self.tally.not_forwarded,
            "in_app_events": self.tally.in_app_events,
            "users": self.users,
            "compared": self.compared,
            "not_compared": self.users - self.compared,
            "matched": self.count("matched"),
            "differing": self.count("differing"),
            "differing_by_property": self.differing_by_property,
            "missing_in_amplitude": self.count("missing_in_amplitude"),
            "missing_in_relay": missing,
            "missing_in_relay_estimated": estimated,
            "amplitude_install_users": self.amplitude_installs,
            "relay_install_users": self.relay_installs,
            "queries": self.pacer.queries,
            "throttled": self.pacer.throttled,
            "waited_s": round(self.pacer.waited_s, 1),
            # By postback_id (the archive's key), never by user or device id.
            "details": [
                {
                    "postback_id": r.postback_id,
                    "verdict": r.verdict,
                    **({"differences": r.differences} if r.differences else {}),
                    **({"reason": r.reason} if r.reason else {}),
                }
                for r in self.results
                if r.verdict != "matched"
            ],
        }

    def text(self) -> str:
        s = self.summary()
        missing = f"{s['missing_in_relay']}{' (estimated from the sample)' if s['missing_in_relay_estimated'] else ''}"
        differing = ", ".join(f"{name} {n}" for name, n in s["differing_by_property"].items())
        lines = [
            f"{self.partner} {s['since']}..{s['until']}: {s['archived']} postback(s) archived "
            f"({s['shadowed']} shadowed), {s['users']} user(s), {s['compared']} compared",
            f"  matched               {s['matched']}",
            f"  differing             {s['differing']}" + (f"  ({differing})" if differing else ""),
            f"  missing in Amplitude  {s['missing_in_amplitude']}",
            f"  missing in the relay  {missing}  (Amplitude counts {s['amplitude_install_users']} user(s) with "
            f"{self.install_event} on these days; the relay archived {s['relay_install_users']})",
        ]
        if s["not_compared"]:
            lines.append(f"  not compared          {s['not_compared']}  (over --max-users; a stable sample was)")
        skipped = [
            f"{s[k]} {label}"
            for k, label in (
                ("erased", "erased"),
                ("undeliverable", "undeliverable"),
                ("not_forwarded", "not forwarded (SKAdNetwork)"),
                ("in_app_events", "in-app"),
            )
            if s[k]
        ]
        if skipped:
            lines.append(f"  skipped               {', '.join(skipped)}")
        if s["throttled"]:
            lines.append(f"  Amplitude answered 429 {s['throttled']} time(s); waited {s['waited_s']:.0f} s in all")
        return "\n".join(lines)


def compare_partner(
    client: DashboardClient,
    archive: Archive,
    adapter: PartnerAdapter,
    since: date,
    until: date,
    *,
    erasures: Erasures | None = None,
    max_users: int = DEFAULT_MAX_USERS,
    pacer: Pacer | None = None,
) -> PartnerComparison:
    pacer = pacer or Pacer()
    naming = Naming.of(adapter)
    tally = Tally()
    persons = people(remapped(archive, adapter, since, until, erasures, tally), tally)
    results = [judge(person, look_up(client, pacer, person), naming) for person in sample(persons, max_users)]
    return PartnerComparison(
        partner=adapter.name,
        install_event=naming.install_event,
        since=since,
        until=until,
        tally=tally,
        users=len(persons),
        results=results,
        amplitude_installs=_amplitude_installs(client, pacer, naming, since, until),
        relay_installs=sum(person.installed for person in persons.values()),
        pacer=pacer,
    )
