"""The tracker's rules over its store: redirect clicks, attribute installs, forward events.

Everything Amplitude gets goes through the relay's one delivery path (immediate attempt, retry
queue, dead-letter queue), as the partners' postbacks do.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from ..archive import ArchivedPostback, ArchiveWriter
from ..core import plan_postback
from ..delivery import Delivery
from ..errors import BadRequest, Unauthorized
from ..ids import clean_gaid, clean_idfa, clean_text, clean_user_id
from ..mapping import campaign_properties
from ..models.amplitude import AmplitudeCall, HttpApiEvent
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback
from ..observability import logger
from ..partners import TITLE_CASE_EVENT_TYPES, Convention
from ..privacy import keyed_hash
from .apps import hash_api_key
from .batches import split_batches
from .models import App, Attribution, Click, EventsRequest, InstallRequest, TrackedEvent
from .redirects import first_fallback, safe_redirect
from .store import TrackerStore
from .waterfall import attribute

PARTNER = "tracker"
CONVENTION = Convention(
    label="[Tracker]",
    event_types=TITLE_CASE_EVENT_TYPES,
    properties={
        "media_source": "media source",
        "campaign": "campaign",
        "adset": "adset",
        "ad": "ad",
        "touch_type": "match type",
        "touch_time": "attributed touch time",
    },
)
_IOS_UA = re.compile(r"iPhone|iPad|iPod|CFNetwork|Darwin|iOS", re.IGNORECASE)
_ANDROID_UA = re.compile(r"Android|okhttp|Dalvik", re.IGNORECASE)
_OS_VERSION = re.compile(r"(?:OS |Android |iOS/?)(\d+)", re.IGNORECASE)

MISSING_KEY = "missing API key: send it in the X-API-Key header"
# The one answer for a wrong key, an unknown key and an unknown app_id alike.
INVALID_KEY = "invalid API key for this app_id"
# Stands in for the hash of an app that does not exist (no key hashes to it).
_NO_APP_HASH = "0" * 64
# App ids are UUIDs: a click naming anything far longer is not worth a DynamoDB read.
MAX_APP_ID_CHARS = 128
# Every in-app event carries the install's campaign fields, so their length is paid once per event:
# a click's campaign fields are kept to this many characters (ad networks' names are far shorter).
MAX_CAMPAIGN_CHARS = 256


def platform_from_user_agent(user_agent: str) -> str | None:
    if _ANDROID_UA.search(user_agent):
        return "android"
    if _IOS_UA.search(user_agent):
        return "ios"
    return None


@dataclass(frozen=True)
class TrackerSettings:
    default_redirect_url: str
    hash_salt: str
    fingerprinting: bool


class Tracker:
    def __init__(
        self,
        store: TrackerStore,
        delivery: Delivery,
        settings: TrackerSettings,
        archive: ArchiveWriter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.delivery, self.settings, self.archive, self.clock = store, delivery, settings, archive, clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- privacy: only keyed hashes are stored ---------------------------------------------
    def keyed_hash(self, value: str) -> str:
        return keyed_hash(self.settings.hash_salt, value)

    def device_hash(self, device_id: str | None) -> str | None:
        device = clean_text(device_id)
        return self.keyed_hash("device|" + device.lower()) if device else None

    def fingerprint(self, source_ip: str, user_agent: str, platform: str | None, os_version: str | None) -> str | None:
        """IP + what both a browser's and an SDK's User-Agent reveal alike (platform, OS major version)."""
        if not self.settings.fingerprinting or not source_ip:
            return None
        platform = platform_from_user_agent(user_agent) or platform
        found = _OS_VERSION.search(user_agent)
        major = found.group(1) if found else (os_version or "").split(".")[0]
        return self.keyed_hash(f"fingerprint|{source_ip}|{platform or '-'}|{major or '-'}")

    # -- apps ------------------------------------------------------------------------------
    def authenticate(self, app_id: str, api_key: str | None) -> App:
        """The app, found by its id (one GetItem, never a scan) and its key's hash compared in constant
        time. Every wrong key, unknown key or unknown app_id gets the same 401, so an answer never
        tells whether a key (or an app) exists."""
        if not api_key:
            raise Unauthorized(MISSING_KEY)
        presented = hash_api_key(api_key)
        app = self.store.get_app(app_id) if len(app_id) <= MAX_APP_ID_CHARS else None
        # Compared even for an unknown app, so both cases take the same path.
        expected = app.api_key_hash if app is not None else _NO_APP_HASH
        if hmac.compare_digest(expected, presented) and app is not None:
            return app
        raise Unauthorized(INVALID_KEY)

    # -- clicks ----------------------------------------------------------------------------
    def click(self, query: Mapping[str, str], source_ip: str, user_agent: str) -> str:
        """Store the click and answer where to send the browser. Never raises: a click always redirects."""
        try:
            app_id = query.get("app_id")
            app = self.store.get_app(app_id) if app_id and len(app_id) <= MAX_APP_ID_CHARS else None
        except Exception as error:  # the person clicking must reach a store even if DynamoDB fails
            logger.warning("click: app lookup failed", extra={"error": type(error).__name__})
            return self.default_location()
        if app is None:
            return self.default_location()
        platform = platform_from_user_agent(user_agent)
        try:
            self._store_click(app, query, source_ip, user_agent, platform)
        except Exception as error:  # ... or storing the click fails
            logger.warning("click: storing failed", extra={"app_id": app.app_id, "error": type(error).__name__})
        return self.redirect_target(app, query.get("redirect_url"), platform)

    def default_location(self) -> str:
        return first_fallback([self.settings.default_redirect_url])

    def redirect_target(self, app: App, redirect_url: str | None, platform: str | None) -> str:
        """redirect_url only to the app's own domains (no open redirect), else its store, else the default."""
        location = safe_redirect(redirect_url, app.redirect_domains)
        if location is not None:
            return location
        store_url = {"ios": app.ios_store_url, "android": app.android_store_url}.get(platform or "")
        return first_fallback([store_url, app.ios_store_url, app.android_store_url, self.settings.default_redirect_url])

    def _store_click(
        self, app: App, query: Mapping[str, str], source_ip: str, user_agent: str, platform: str | None
    ) -> None:
        advertising_id = clean_text(query.get("advertising_id"))
        click = Click(
            app_id=app.app_id,
            click_id=uuid.uuid4().hex,
            clicked_at_ms=self.now_ms(),
            campaign_id=_campaign_text(query.get("c")),
            media_source=_campaign_text(query.get("pid")),
            adset=_campaign_text(query.get("af_adset")),
            ad=_campaign_text(query.get("af_ad")),
            device_hash=self.device_hash(advertising_id),
            fingerprint=self.fingerprint(source_ip, user_agent, platform, None),
            platform=platform if platform in ("ios", "android") else None,
        )
        self.store.put_click(click)
        if self.archive is not None:
            self.archive.put(
                ArchivedPostback("tracker-clicks", click.clicked_at_ms, click.click_id, click.model_dump(mode="json"))
            )

    # -- installs --------------------------------------------------------------------------
    def install(self, app: App, request: InstallRequest, source_ip: str, user_agent: str) -> Attribution:
        now = self.now_ms()
        device_hash = self.device_hash(request.device_id)
        fingerprint = self.fingerprint(source_ip, user_agent, request.platform, request.os_version)
        device_clicks, fingerprint_clicks = self.store.clicks_for(app.app_id, device_hash, fingerprint)
        result = attribute(now, request.install_referrer, device_clicks, fingerprint_clicks)
        if device_hash:
            self.store.put_install(app.app_id, device_hash, result, now)
        if not result.is_organic:
            self._send_install(app, request, result, now, device_hash)
        logger.info("install attributed", extra={"app_id": app.app_id, "match_type": result.match_type})
        return result

    def _send_install(
        self, app: App, request: InstallRequest, result: Attribution, now: int, device_hash: str | None
    ) -> None:
        platform = request.platform if request.platform in ("ios", "android") else None
        ids = DeviceIds(
            idfa=clean_idfa(request.device_id) if platform == "ios" else None,
            adid=clean_gaid(request.device_id) if platform == "android" else None,
        )
        user_id = clean_user_id(request.user_id)
        if not (ids.usable_for(platform) or user_id):
            return  # kept as an install; nothing Amplitude could match
        postback = Postback(
            partner=PARTNER,
            kind=Kind.INSTALL,
            platform=platform,
            ids=ids,
            user_id=user_id,
            time_ms=now,
            campaign=Campaign(
                media_source=result.media_source,
                campaign=result.campaign_id,
                adset=result.adset,
                ad=result.ad,
                touch_type=result.match_type,
                touch_time_ms=result.attributed_touch_time,
            ),
            device=Device(os_version=request.os_version, model=request.device_model, language=request.language),
            partner_event_id=f"{app.app_id}:{device_hash or user_id}:install",
        )
        calls = [
            call.model_copy(update={"api_key_ref": app.amplitude_key_ref})
            for call in plan_postback(postback, CONVENTION).calls
        ]
        self.delivery.deliver_postback(PARTNER, calls, budget_s=1.0)

    # -- events ----------------------------------------------------------------------------
    def events(self, app: App, request: EventsRequest) -> int:
        device_hash = self.device_hash(request.device_id)
        install = self.store.install_for(app.app_id, device_hash) if device_hash else None
        campaign = _install_campaign_properties(install)
        user_id = clean_user_id(request.user_id)
        device_id = clean_text(request.device_id)
        if not (user_id or device_id):
            raise BadRequest("events need a device_id (or user_id) to reach Amplitude")
        events = [
            self._http_event(app, index, event, campaign, user_id, device_id)
            for index, event in enumerate(request.events)
        ]
        # Split by size and count: each request must fit Amplitude's limit and, if retried, one SQS
        # message (batches.py); a 413 when the whole would fan out past the outgoing cap.
        calls = [
            AmplitudeCall(
                endpoint="httpapi_batch",
                insert_id=f"{PARTNER}-events-{_batch_key(batch)}",
                payload={"events": batch},
                api_key_ref=app.amplitude_key_ref,
            )
            for batch in split_batches([event.wire() for event in events])
        ]
        self.delivery.deliver_postback(PARTNER, calls, budget_s=1.0)
        return len(events)

    def _http_event(
        self,
        app: App,
        index: int,
        event: TrackedEvent,
        campaign: dict[str, Any],
        user_id: str | None,
        device_id: str | None,
    ) -> HttpApiEvent:
        revenue = _revenue(event.properties)
        properties = {
            **{k: v for k, v in event.properties.items() if isinstance(v, (str, int, float, bool))},
            **campaign,
            "session_uuid": event.session_id,
        }
        try:
            return self._event_model(app, event, revenue, properties, user_id, device_id)
        except ValidationError as error:  # request models check these limits; never a 500 if one slips
            fields = sorted({".".join(str(part) for part in e["loc"]) for e in error.errors()})
            raise BadRequest(f"events[{index}] cannot be sent to Amplitude: {', '.join(fields)}") from error

    @staticmethod
    def _event_model(
        app: App,
        event: TrackedEvent,
        revenue: tuple[Decimal, str] | None,
        properties: dict[str, Any],
        user_id: str | None,
        device_id: str | None,
    ) -> HttpApiEvent:
        identity = f"{app.app_id}|{device_id or user_id}|{event.event_name}|{event.timestamp}|{event.session_id}"
        return HttpApiEvent(
            event_type=event.event_name,
            user_id=user_id,
            device_id=device_id,
            time=event.timestamp,
            insert_id=f"{PARTNER}-{hashlib.sha256(identity.encode()).hexdigest()[:40]}",
            event_properties=properties,
            price=float(revenue[0]) if revenue else None,
            quantity=1 if revenue else None,
            revenue=float(revenue[0]) if revenue else None,
            currency=revenue[1] if revenue else None,
            revenue_type=event.event_name if revenue else None,
            product_id=clean_text(event.properties.get("product_id")) if revenue else None,
        )


def _campaign_text(value: Any) -> str | None:
    text = clean_text(value)
    return text[:MAX_CAMPAIGN_CHARS] if text is not None else None


def _install_campaign_properties(install: Attribution | None) -> dict[str, Any]:
    if install is None or install.is_organic:
        return {}
    postback = Postback(
        partner=PARTNER,
        kind=Kind.INSTALL,
        campaign=Campaign(
            media_source=install.media_source,
            campaign=install.campaign_id,
            adset=install.adset,
            ad=install.ad,
            touch_type=install.match_type,
        ),
    )
    return campaign_properties(postback, CONVENTION)


def _batch_key(events: list[dict[str, Any]]) -> str:
    return hashlib.sha256("|".join(str(event["insert_id"]) for event in events).encode()).hexdigest()[:40]


def _revenue(properties: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """Events with properties.amount and properties.currency are revenue (docs/tracker.md)."""
    amount, currency = properties.get("amount"), clean_text(properties.get("currency"))
    if amount is None or currency is None or isinstance(amount, bool):
        return None
    # The value is not echoed back: whatever a caller put there stays out of answers and logs.
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError) as error:
        raise BadRequest("properties.amount is not a number") from error
    if not value.is_finite() or not math.isfinite(float(value)):
        raise BadRequest("properties.amount is not a finite number")
    return value, currency.upper()
