"""What Amplitude accepts, as pydantic models.

Sources: Amplitude's Attribution API (https://amplitude.com/docs/apis/analytics/attribution),
Identify API (https://amplitude.com/docs/apis/analytics/identify) and
HTTP V2 API (https://amplitude.com/docs/apis/analytics/http-v2).

Where a generated OpenAPI description of the Attribution API (https://github.com/api-evangelist/amplitude)
disagrees, we follow Amplitude's page (docs/delivery.md):
- the OpenAPI shows a JSON request body for /attribution; the page and every real sender use form fields
  `api_key` + `event` (a JSON string), one event per request. We send form fields.
- the OpenAPI makes `platform` optional free text ("iOS or Android"); the page requires "ios" or "android"
  and, per platform, an advertising or vendor id. The model enforces the page.
- the OpenAPI documents `user_id`/`device_id`/`event_properties` on attribution events; the page does not
  (their effect is unconfirmed). We never rely on them: the user id travels by Identify.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Platform = Literal["ios", "android"]
# Amplitude caps string values at 1024 characters (HTTP V2 rule, assumed everywhere).
MAX_STRING = 1024


class _AmplitudeModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_max_length=MAX_STRING)

    def wire(self) -> dict[str, Any]:
        """The JSON object Amplitude receives: aliases, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _DeviceFields(_AmplitudeModel):
    """Device and location fields that Attribution and HTTP V2 events both carry."""

    os_name: str | None = None
    os_version: str | None = None
    device_brand: str | None = None
    device_model: str | None = None
    carrier: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    language: str | None = None


class AttributionEvent(_DeviceFields):
    """One event for `POST /attribution` (https://amplitude.com/docs/apis/analytics/attribution)."""

    event_type: str = Field(min_length=1)
    platform: Platform
    idfa: str | None = None
    idfv: str | None = None
    adid: str | None = None
    android_app_set_id: str | None = None
    android_id: str | None = None
    time: int | None = Field(default=None, ge=0, description="epoch milliseconds")
    user_properties: dict[str, Any] | None = None
    event_properties: dict[str, Any] | None = None
    device_manufacturer: str | None = None

    @model_validator(mode="after")
    def _platform_needs_its_ids(self) -> Self:
        if self.platform == "ios" and not (self.idfa or self.idfv):
            raise ValueError("an iOS attribution event needs idfa or idfv")
        if self.platform == "android" and not (self.adid or self.android_app_set_id):
            raise ValueError("an Android attribution event needs adid or android_app_set_id")
        return self


class UserPropertyOperations(_AmplitudeModel):
    """Identify `user_properties` using operators: Amplitude's Identify API, and `$clearAll` as the SDKs send it."""

    set: dict[str, Any] | None = Field(default=None, alias="$set")
    set_once: dict[str, Any] | None = Field(default=None, alias="$setOnce")
    add: dict[str, float] | None = Field(default=None, alias="$add")
    append: dict[str, Any] | None = Field(default=None, alias="$append")
    prepend: dict[str, Any] | None = Field(default=None, alias="$prepend")
    pre_insert: dict[str, Any] | None = Field(default=None, alias="$preInsert")
    post_insert: dict[str, Any] | None = Field(default=None, alias="$postInsert")
    remove: dict[str, Any] | None = Field(default=None, alias="$remove")
    unset: dict[str, Any] | None = Field(default=None, alias="$unset")
    clear_all: Literal["-"] | None = Field(default=None, alias="$clearAll")

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.wire():
            raise ValueError("user_properties needs at least one operation")
        return self


class Identification(_AmplitudeModel):
    """One identification for `POST /identify` (https://amplitude.com/docs/apis/analytics/identify)."""

    user_id: str | None = Field(default=None, min_length=1)
    device_id: str | None = Field(default=None, min_length=1)
    user_properties: UserPropertyOperations
    platform: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    device_model: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    language: str | None = None

    @model_validator(mode="after")
    def _needs_an_id(self) -> Self:
        if not (self.user_id or self.device_id):
            raise ValueError("an identification needs user_id or device_id")
        return self


class HttpApiEvent(_DeviceFields):
    """One event for `POST /2/httpapi` (the HTTP V2 API), used for in-app events with revenue."""

    event_type: str = Field(min_length=1)
    user_id: str | None = None
    device_id: str | None = None
    time: int | None = Field(default=None, ge=0)
    insert_id: str = Field(min_length=1, max_length=MAX_STRING)
    event_properties: dict[str, Any] | None = None
    user_properties: dict[str, Any] | None = None
    platform: str | None = None
    app_version: str | None = None
    idfa: str | None = None
    idfv: str | None = None
    adid: str | None = None
    android_id: str | None = None
    price: float | None = None
    quantity: int | None = None
    revenue: float | None = None
    currency: str | None = None
    revenue_type: str | None = Field(default=None, alias="revenueType")
    product_id: str | None = Field(default=None, alias="productId")

    @model_validator(mode="after")
    def _needs_an_id(self) -> Self:
        if not (self.user_id or self.device_id):
            raise ValueError("an HTTP V2 event needs user_id or device_id")
        return self


class HttpApiRequest(_AmplitudeModel):
    api_key: str = Field(min_length=1)
    events: list[HttpApiEvent] = Field(min_length=1, max_length=2000)


# "httpapi_batch": several HTTP V2 events in one request (payload {"events": [...]}), each with its insert_id.
Endpoint = Literal["attribution", "identify", "httpapi", "httpapi_batch"]


class AmplitudeCall(BaseModel):
    """One request to Amplitude, as queued and retried: the endpoint and the wire JSON object.

    `insert_id` is stable per postback and endpoint, so a resend maps to the same id.
    """

    model_config = ConfigDict(frozen=True)

    endpoint: Endpoint
    insert_id: str = Field(min_length=1)
    payload: dict[str, Any]
    # Which Amplitude project: the SSM parameter / secret of its key; None = the relay's own key.
    api_key_ref: str | None = None
