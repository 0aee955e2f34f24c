"""Partner adapters: pure functions from a raw postback to our normalised `Postback`.

A partner is data plus one pure function. Adding one touches one module here, one test table,
one template resource and one doc section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..models.amplitude import MAX_STRING
from ..models.postback import Kind, Postback
from .pass_through import PassThrough

RawPostback = Mapping[str, Any]


@dataclass(frozen=True)
class Convention:
    """How a partner's data is named in Amplitude (its own integration's names where known).

    `label` prefixes every event type and user property ("[AppsFlyer] media source").
    `event_types` names the attribution event per kind; in-app events keep the partner's event name.
    `properties` maps our field names (Campaign fields, plus "is_organic", "install_time",
    "touch_time") to the property names after the label; a field not listed is not sent.
    """

    label: str
    event_types: Mapping[Kind, str]
    properties: Mapping[str, str]
    initial_prefix: str = "initial "

    def event_type(self, kind: Kind, event_name: str | None) -> str:
        if kind is Kind.IN_APP_EVENT:
            # The event name is cut so that label and name fit Amplitude's 1024 characters together
            # (a mapping file's label may take up to 102 of them).
            return f"{self.label} {(event_name or 'event')[: MAX_STRING - len(self.label) - 1]}"
        return f"{self.label} {self.event_types[kind]}"

    def property_name(self, field_name: str) -> str:
        return f"{self.label} {self.properties[field_name]}"

    def initial_property_name(self, field_name: str) -> str:
        return f"{self.label} {self.initial_prefix}{self.properties[field_name]}"

    @property
    def revenue_usd_name(self) -> str:
        return f"{self.label} revenue usd"

    @cached_property
    def written_names(self) -> frozenset[str]:
        """Every property name the mapping writes under the label (pass-through never takes one)."""
        names = {self.property_name(name) for name in self.properties}
        names |= {self.initial_property_name(name) for name in self.properties}
        return frozenset({*names, self.revenue_usd_name})


# The attribution event names of partners without Amplitude-native names ("[Branch] Install").
# Every kind is named, including those an adapter never produces.
TITLE_CASE_EVENT_TYPES: Mapping[Kind, str] = {
    Kind.INSTALL: "Install",
    Kind.REINSTALL: "Reinstall",
    Kind.RE_ENGAGEMENT: "Re-engagement",
    Kind.RE_ATTRIBUTION: "Re-attribution",
}


@dataclass(frozen=True)
class PartnerAdapter:
    """A partner: its route name, its Amplitude naming, its pure parse function, and how its
    dashboard should call us.

    `query_template` is our recommended callback URL for partners whose postbacks are URL templates
    (Adjust, Kochava, Tenjin, ad networks): query key → the partner's macro, each key being the
    macro's own name (`gps_adid={gps_adid}`). None for partners that POST a JSON body of their own
    shape (AppsFlyer, Branch, Singular).
    """

    name: str
    display_name: str
    convention: Convention
    parse: Callable[[RawPostback], Postback]
    method: str = "POST"
    query_template: Mapping[str, str] | None = None
    # Headers a partner may use to present its relay token instead of `token=` / X-Relay-Token
    # (checked against this partner's own tokens only, as those are).
    token_headers: tuple[str, ...] = field(default=())
    # Mapping-file networks live under /v1/postbacks/custom.
    route_prefix: str = "/v1/postbacks"
    # Every key (or dotted path; an object maps all its keys) `parse` reads: the rest of a postback
    # is what pass-through may forward (pass_through.py). tests/unit/test_partner_contract.py
    # checks that parse reads nothing else.
    mapped_keys: frozenset[str] = field(default=frozenset())
    # Which unmapped keys to forward: set per function (RELAY_PASS_THROUGH) or per mapping file.
    pass_through: PassThrough = field(default=PassThrough())

    @property
    def route(self) -> str:
        return f"{self.route_prefix}/{self.name}"
