"""Campaign data for `postback-relay report` tests, through the relay's own path into the emulator: a
normalised postback per partner, the relay's mapping (`to_amplitude_calls`) and its Amplitude client,
then SDK events (sessions) to /2/httpapi as an app would send them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from postback_relay.amplitude.client import AmplitudeClient
from postback_relay.mapping import to_amplitude_calls
from postback_relay.models.postback import Campaign, DeviceIds, Kind, Postback, Revenue
from postback_relay.partners import Convention
from postback_relay.partners.custom import load_networks
from postback_relay.partners.registry import coded_partners
from postback_relay.tracker.service import CONVENTION as TRACKER
from postback_relay_tools.emulator import AmplitudeEmulator

DAY_MS = 86_400_000


def conventions() -> dict[str, tuple[str, Convention]]:
    """Display name -> (postback partner name, Amplitude naming), as `report` knows them."""
    found = {a.display_name: (a.name, a.convention) for a in coded_partners().values()}
    found.update({a.display_name: (a.name, a.convention) for a in load_networks().values()})
    found["Tracker"] = ("tracker", TRACKER)
    return found


def day_ms(day: dt.date, hours: float = 9.0) -> int:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(midnight.timestamp() * 1000 + hours * 3_600_000)


@dataclass
class Loop:
    emulator: AmplitudeEmulator

    def __post_init__(self) -> None:
        self._client = AmplitudeClient(self.emulator.url, lambda _ref: self.emulator.api_key)
        self._http = requests.Session()
        self._partners = conventions()

    def close(self) -> None:
        self._client.close()
        self._http.close()

    def _send(self, partner: str, postback: Postback) -> None:
        _, convention = self._partners[partner]
        for call in to_amplitude_calls(postback, convention):
            outcome = self._client.send(call, timeout_s=10)
            assert outcome.delivered, (partner, outcome)

    @staticmethod
    def idfv(user: int) -> str:
        return f"11111111-2222-4333-8444-{user:012d}"

    def install(self, partner: str, user: int, campaign: str | None, day: dt.date) -> None:
        """`campaign` None: the partner reports the install as organic."""
        name, _ = self._partners[partner]
        at = day_ms(day)
        self._send(
            partner,
            Postback(
                partner=name,
                kind=Kind.INSTALL,
                platform="ios",
                ids=DeviceIds(idfa=f"AAAAAAAA-BBBB-4CCC-8DDD-{user:012d}", idfv=self.idfv(user)),
                time_ms=at,
                install_time_ms=at,
                is_organic=campaign is None,
                campaign=Campaign(media_source="organic" if campaign is None else "Meta Ads", campaign=campaign),
            ),
        )
        # The app's first session, seconds later: the SDK event the held attribution waits for.
        self.sdk(user, day, hours=9.02)

    def purchase(self, partner: str, user: int, amount: str, currency: str, day: dt.date) -> None:
        name, _ = self._partners[partner]
        self._send(
            partner,
            Postback(
                partner=name,
                kind=Kind.IN_APP_EVENT,
                event_name="purchase",
                platform="ios",
                ids=DeviceIds(idfv=self.idfv(user)),
                time_ms=day_ms(day, 15.0),
                revenue=Revenue(amount=Decimal(amount), currency=currency),
                partner_event_id=f"{partner}-{user}-{day}-{amount}",
            ),
        )

    def sdk(self, user: int, day: dt.date, hours: float = 12.0, **fields: Any) -> None:
        event = {
            "event_type": "session_start",
            "device_id": self.idfv(user),
            "idfv": self.idfv(user),
            "platform": "iOS",
            "time": day_ms(day, hours),
            "insert_id": f"s-{user}-{day}-{hours}-{sorted(fields.items())}",
            **fields,
        }
        sent = self._http.post(
            f"{self.emulator.url}/2/httpapi", json={"api_key": self.emulator.api_key, "events": [event]}, timeout=10
        )
        assert sent.status_code == 200, sent.text
