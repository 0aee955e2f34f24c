"""The first-party tracker's payloads, compatible with the tracker API in docs/tracker.md so its SDK calls
work unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Amplitude's limit on a string (HTTP V2), checked on the way in so nothing fails on the way out.
MAX_STRING = 1024

MatchType = Literal["install_referrer", "device_id", "fingerprint", "organic"]


class App(BaseModel):
    """An app registered with the tracker. Its API key is stored only as a hash."""

    model_config = ConfigDict(frozen=True)

    app_id: str
    name: str
    ios_store_url: str | None = None
    android_store_url: str | None = None
    redirect_domains: list[str] = Field(default_factory=list)
    amplitude_key_ref: str | None = Field(
        default=None, description="SSM parameter / secret holding this app's Amplitude key (default: the relay's)"
    )
    api_key_hash: str
    created_at_ms: int


class Click(BaseModel):
    """One stored ad click. Device ids and fingerprints are kept only as keyed hashes."""

    app_id: str
    click_id: str
    clicked_at_ms: int
    campaign_id: str | None = None
    media_source: str | None = None
    adset: str | None = None
    ad: str | None = None
    device_hash: str | None = None
    fingerprint: str | None = None
    platform: Literal["ios", "android"] | None = None


class InstallRequest(BaseModel):
    """POST /v1/installs body (docs/tracker.md); `user_id` is our optional addition for the Identify."""

    model_config = ConfigDict(extra="ignore", str_max_length=MAX_STRING)

    app_id: str = Field(min_length=1)
    device_id: str | None = None
    platform: Literal["ios", "android", "web"]
    install_referrer: str | None = None
    sdk_version: str = Field(min_length=1)
    screen_resolution: str | None = None
    timezone: str | None = None
    language: str | None = None
    os_version: str | None = None
    device_model: str | None = None
    user_id: str | None = None


class Attribution(BaseModel):
    """The 201 answer's `data`: how the install was attributed."""

    match_type: MatchType = Field(serialization_alias="matchType")
    confidence: int | None = None
    media_source: str | None = Field(default=None, serialization_alias="mediaSource")
    campaign_id: str | None = Field(default=None, serialization_alias="campaignId")
    is_organic: bool = Field(serialization_alias="isOrganic")
    attributed_touch_time: int | None = Field(default=None, serialization_alias="attributedTouchTime")
    adset: str | None = Field(default=None, exclude=True)
    ad: str | None = Field(default=None, exclude=True)

    def answer(self) -> dict[str, Any]:
        return {"success": True, "data": self.model_dump(by_alias=True, mode="json")}


class TrackedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=MAX_STRING)

    event_name: str = Field(min_length=1, max_length=1000)
    properties: dict[str, Any]
    timestamp: int = Field(ge=0)
    session_id: str = Field(min_length=1)

    @field_validator("properties")
    @classmethod
    def _sendable(cls, properties: dict[str, Any]) -> dict[str, Any]:
        """Text values become Amplitude event properties (and product ids, currencies) as they are."""
        for key, value in properties.items():
            if isinstance(value, str):
                if len(value) > MAX_STRING:
                    raise ValueError(f"{key!r} is longer than {MAX_STRING} characters")
                try:
                    value.encode()
                except UnicodeEncodeError:
                    raise ValueError(f"{key!r} is not valid Unicode text") from None
        return properties


class EventsRequest(BaseModel):
    """POST /v1/events body (docs/tracker.md)."""

    model_config = ConfigDict(extra="ignore", str_max_length=MAX_STRING)

    app_id: str = Field(min_length=1)
    device_id: str | None = None
    user_id: str | None = None
    events: list[TrackedEvent] = Field(min_length=1, max_length=500)
    sdk_version: str = Field(min_length=1)
    api_key: str | None = Field(default=None, alias="_api_key", repr=False)


class InstallAnswer(BaseModel):
    success: Literal[True]
    data: Attribution


class EventsAccepted(BaseModel):
    accepted: int


class EventsAnswer(BaseModel):
    success: Literal[True]
    data: EventsAccepted


class TrackerError(BaseModel):
    success: Literal[False]
    error: str
    code: str | None = None
