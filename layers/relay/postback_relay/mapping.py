"""Our normalised postback to the Amplitude calls that carry it. Pure: no I/O, no clock.

- Installs, reinstalls, re-engagements and re-attributions go to the Attribution API when the
  device has an id Amplitude can match on (the Attribution API's per-platform rule, docs/delivery.md).
- When the postback names the app's own user, an Identify sets the campaign on that user:
  first touch with `$setOnce` ("initial ..."), latest with `$set`. With a user id but no usable
  device id, the Identify alone carries the campaign.
- In-app events go to HTTP V2 (`/2/httpapi`) with an `insert_id`, and revenue in `price`/`revenue`/
  `currency`: the Attribution API has no de-duplication and no revenue fields, and holds or drops
  events it cannot match, so only HTTP V2 gets a purchase into Amplitude's revenue charts once.
  See docs/delivery.md.
"""

from __future__ import annotations

from typing import Any

from .errors import Undeliverable
from .models.amplitude import (
    AmplitudeCall,
    AttributionEvent,
    Endpoint,
    HttpApiEvent,
    Identification,
    UserPropertyOperations,
)
from .models.postback import Kind, Postback
from .partners import Convention


def _campaign_values(postback: Postback) -> dict[str, Any]:
    values: dict[str, Any] = postback.campaign.model_dump(exclude={"touch_time_ms"})
    values["is_organic"] = postback.is_organic
    values["touch_time"] = postback.campaign.touch_time_ms
    values["install_time"] = postback.install_time_ms
    return {name: value for name, value in values.items() if value is not None}


def campaign_properties(postback: Postback, convention: Convention) -> dict[str, Any]:
    """Campaign fields under the partner's Amplitude property names."""
    return {
        convention.property_name(name): value
        for name, value in _campaign_values(postback).items()
        if name in convention.properties
    }


def _initial_properties(postback: Postback, convention: Convention) -> dict[str, Any]:
    return {
        convention.initial_property_name(name): value
        for name, value in _campaign_values(postback).items()
        if name in convention.properties
    }


def amplitude_device_id(postback: Postback) -> str | None:
    """The id an Amplitude SDK uses as device_id by default: IDFV on iOS; on Android the
    advertising id (SDK option `useAdvertisingIdForDeviceId`), else the App Set id."""
    ids = postback.ids
    if postback.platform == "ios":
        return ids.idfv or ids.idfa
    if postback.platform == "android":
        return ids.adid or ids.android_app_set_id
    return None


def _device_fields(postback: Postback) -> dict[str, Any]:
    """The device and location fields both Amplitude event kinds carry (models.amplitude._DeviceFields)."""
    device = postback.device
    return {
        "os_name": postback.platform,
        "os_version": device.os_version,
        "device_brand": device.brand,
        "device_model": device.model,
        "carrier": device.carrier,
        "country": device.country,
        "region": device.region,
        "city": device.city,
        "language": device.language,
    }


def _attribution_event(postback: Postback, convention: Convention, insert_id: str) -> AttributionEvent:
    assert postback.platform is not None
    ids = postback.ids.for_platform(postback.platform)
    return AttributionEvent(
        event_type=convention.event_type(postback.kind, postback.event_name),
        platform=postback.platform,
        idfa=ids.idfa,
        idfv=ids.idfv,
        adid=ids.adid,
        android_app_set_id=ids.android_app_set_id,
        android_id=ids.android_id,
        time=postback.time_ms,
        user_properties=campaign_properties(postback, convention) or None,
        event_properties={"postback_id": insert_id, **postback.event_properties},
        **_device_fields(postback),
    )


def _identification(postback: Postback, convention: Convention) -> Identification:
    assert postback.user_id is not None
    return Identification(
        user_id=postback.user_id,
        user_properties=UserPropertyOperations.model_validate(
            {
                "$setOnce": _initial_properties(postback, convention) or None,
                "$set": campaign_properties(postback, convention) or None,
            }
        ),
    )


def _in_app_event(postback: Postback, convention: Convention, insert_id: str) -> HttpApiEvent:
    device, ids, revenue = postback.device, postback.ids.for_platform(postback.platform), postback.revenue
    amount = float(revenue.amount) if revenue else None
    properties: dict[str, Any] = {**campaign_properties(postback, convention), **postback.event_properties}
    if revenue and revenue.amount_usd is not None:
        properties[convention.revenue_usd_name] = float(revenue.amount_usd)
    return HttpApiEvent(
        event_type=convention.event_type(postback.kind, postback.event_name),
        user_id=postback.user_id,
        device_id=amplitude_device_id(postback),
        time=postback.time_ms,
        insert_id=insert_id,
        event_properties=properties or None,
        platform=postback.platform,
        app_version=device.app_version,
        **_device_fields(postback),
        idfa=ids.idfa,
        idfv=ids.idfv,
        adid=ids.adid,
        android_id=ids.android_id,
        price=amount,
        quantity=1 if revenue else None,
        revenue=amount,
        currency=revenue.currency if revenue else None,
        revenue_type=(revenue.revenue_type or postback.event_name) if revenue else None,
    )


def to_amplitude_calls(
    postback: Postback, convention: Convention, postback_id: str | None = None
) -> list[AmplitudeCall]:
    """The Amplitude calls for one postback; raises Undeliverable (422) when none is possible.

    `postback_id`: the postback's `dedup_key()` when the caller already has it (it is hashed anew
    otherwise); every insert_id derives from it.
    """
    key = postback_id or postback.dedup_key()

    def insert_id(endpoint: Endpoint) -> str:
        return f"{postback.partner}-{endpoint}-{key}"

    calls: list[AmplitudeCall] = []
    if postback.kind is Kind.IN_APP_EVENT:
        if not (postback.user_id or amplitude_device_id(postback)):
            raise Undeliverable(
                "in-app event has neither a user id nor a device id (idfv/idfa on iOS, "
                "advertising id or app set id on Android) for Amplitude"
            )
        event = _in_app_event(postback, convention, insert_id("httpapi"))
        return [AmplitudeCall(endpoint="httpapi", insert_id=event.insert_id, payload=event.wire())]

    if postback.ids.usable_for(postback.platform):
        event_id = insert_id("attribution")
        attribution = _attribution_event(postback, convention, event_id)
        calls.append(AmplitudeCall(endpoint="attribution", insert_id=event_id, payload=attribution.wire()))
    if postback.user_id:
        identification = _identification(postback, convention)
        calls.append(AmplitudeCall(endpoint="identify", insert_id=insert_id("identify"), payload=identification.wire()))
    if not calls:
        if postback.platform is None:
            problem = "no platform (ios or android) could be determined and no user id was sent"
        else:
            needed = "idfa or idfv" if postback.platform == "ios" else "advertising id or app set id"
            problem = f"{postback.platform} postback has no usable {needed} and no user id"
        raise Undeliverable(f"undeliverable postback: {problem}")
    return calls
