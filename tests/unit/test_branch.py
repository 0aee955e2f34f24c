"""What only the Branch adapter has. Its tables (tests/unit/partner_tables/branch.py: parse rules,
400s, undeliverable webhooks, Amplitude payloads, resends, wiring) run in test_partner_contract.py.

The templated-GET flavour is simulated by flattening a fixture into dotted keys with string values.
"""

from __future__ import annotations

from typing import Any

import pytest

from postback_relay.models.postback import Kind
from postback_relay.partners.branch import parse
from tests.unit.partner_cases import IOS_IDFV
from tests.unit.partner_tables.branch import FIXTURE_NAMES, IOS_INSTALL_MS, load


def as_template_query(payload: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The same event through a templated GET URL: dotted keys, every value a string."""
    query: dict[str, str] = {}
    for key, value in payload.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            query.update(as_template_query(value, f"{path}."))
        elif isinstance(value, list):
            continue  # Freemarker templates pick scalars; lists are not templated
        elif value is None:
            query[path] = ""
        elif isinstance(value, bool):
            query[path] = "true" if value else "false"
        else:
            query[path] = str(value)
    return query


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_templated_get_parses_like_post_json(name: str) -> None:
    """Branch's templated GET (dotted keys, string values) gives the same postback as the POST
    (less its lists: a template names scalars, so a GET has no content_items)."""
    without_lists = {key: value for key, value in load(name).items() if not isinstance(value, list)}
    post, get = parse(without_lists), parse(as_template_query(load(name)))
    # custom_data values are strings either way; only the GET's numeric types differ.
    assert get.model_dump(exclude={"revenue"}) == post.model_dump(exclude={"revenue"})
    assert get.dedup_key() == post.dedup_key()


def test_templated_get_minimal_query() -> None:
    query = {
        "name": "INSTALL",
        "id": "42424242424242",
        "timestamp": str(IOS_INSTALL_MS),
        "attributed": "true",
        "user_data.os": "IOS",
        "user_data.idfa": "${(user_data.idfa)!}",
        "user_data.idfv": IOS_IDFV,
        "last_attributed_touch_data.~advertising_partner_name": "Apple Search Ads",
        "last_attributed_touch_data.~campaign": "ASA_Brand",
        "token": "never-data",
    }
    postback = parse(query)
    assert postback.kind is Kind.INSTALL
    assert postback.ids.idfa is None
    assert postback.ids.idfv == IOS_IDFV
    assert postback.campaign.media_source == "Apple Search Ads"
    assert postback.campaign.campaign == "ASA_Brand"
    assert postback.time_ms == IOS_INSTALL_MS


def test_without_ad_keys_the_creative_is_the_ad_and_not_sent_twice() -> None:
    payload = load("purchase")
    payload["last_attributed_touch_data"] = {"~advertising_partner_name": "Meta", "~creative_name": "video_v2"}
    postback = parse(payload)
    assert postback.campaign.ad == "video_v2"
    assert "[Branch] creative" not in postback.event_properties
