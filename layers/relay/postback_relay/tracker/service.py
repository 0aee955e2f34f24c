"""The tracker's rules over its store: redirect clicks, attribute installs, forward events.

Everything Amplitude gets goes through the relay's one delivery path (immediate attempt, retry
queue, dead-letter queue), as the partners' postbacks do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from ..archive import Archive, ArchivedPostback
from ..delivery import Delivery
from ..errors import BadRequest, Forbidden, Unauthorized
from ..ids import clean_gaid, clean_idfa, clean_text, clean_user_id
from ..mapping import AmplitudeCall, campaign_properties, to_amplitude_calls
from ..models.amplitude import HttpApiEvent
from ..models.postback import Campaign, Device, DeviceIds, Kind, Postback
from ..observability import logger
from ..partners import TITLE_CASE_EVENT_TYPES, Convention
from .apps import hash_api_key
from .models import App, Attribution, Click, EventsRequest, InstallRequest
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
        archive: Archive | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.delivery, self.settings, self.archive, self.clock = store, delivery, settings, archive, clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- privacy: only keyed hashes are stored ---------------------------------------------
    def keyed_hash(self, value: str) -> str:
        return hmac.new(self.settings.hash_salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:40]

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
        """401 for a missing or unknown key, 403 when the key belongs to another app."""
        if not api_key:
            raise Unauthorized("missing API key: send it in the X-API-Key header")
        presented = hash_api_key(api_key)
        app = self.store.get_app(app_id)
        if app is not None and hmac.compare_digest(app.api_key_hash, presented):
            return app
        if self.store.app_with_key_hash(presented) is not None:
            raise Forbidden("app_id does not match the API key's app")
        raise Unauthorized("invalid API key")

    # -- clicks ----------------------------------------------------------------------------
    def click(self, query: Mapping[str, str], source_ip: str, user_agent: str) -> str:
        """Store the click and answer where to send the browser. Never raises: a click always redirects."""
        try:
            app = self.store.get_app(query.get("app_id", "")) if query.get("app_id") else None
        except Exception:
            logger.exception("click: app lookup failed")
            return self.settings.default_redirect_url
        if app is None:
            return self.settings.default_redirect_url
        platform = platform_from_user_agent(user_agent)
        try:
            self._store_click(app, query, source_ip, user_agent, platform)
        except Exception:  # the person clicking must reach the store even if storage fails
            logger.exception("click: storing failed", extra={"app_id": app.app_id})
        return self.redirect_target(app, query.get("redirect_url"), platform)

    def redirect_target(self, app: App, redirect_url: str | None, platform: str | None) -> str:
        """redirect_url only to the app's own domains (no open redirect), else its store, else the default."""
        if redirect_url:
            parts = urlsplit(redirect_url)
            host = (parts.hostname or "").lower()
            allowed = any(host == domain or host.endswith("." + domain) for domain in app.redirect_domains)
            if parts.scheme in ("https", "http") and allowed:
                return redirect_url
        store_url = {"ios": app.ios_store_url, "android": app.android_store_url}.get(platform or "")
        return store_url or app.ios_store_url or app.android_store_url or self.settings.default_redirect_url

    def _store_click(
        self, app: App, query: Mapping[str, str], source_ip: str, user_agent: str, platform: str | None
    ) -> None:
        advertising_id = clean_text(query.get("advertising_id"))
        click = Click(
            app_id=app.app_id,
            click_id=uuid.uuid4().hex,
            clicked_at_ms=self.now_ms(),
            campaign_id=clean_text(query.get("c")),
            media_source=clean_text(query.get("pid")),
            adset=clean_text(query.get("af_adset")),
            ad=clean_text(query.get("af_ad")),
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
            for call in to_amplitude_calls(postback, CONVENTION)
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
        events = [self._http_event(app, request, event, campaign, user_id, device_id) for event in request.events]
        batch_key = hashlib.sha256("|".join(event.insert_id for event in events).encode()).hexdigest()[:40]
        call = AmplitudeCall(
            endpoint="httpapi_batch",
            insert_id=f"{PARTNER}-events-{batch_key}",
            payload={"events": [event.wire() for event in events]},
            api_key_ref=app.amplitude_key_ref,
        )
        self.delivery.deliver_postback(PARTNER, [call], budget_s=1.0)
        return len(events)

    def _http_event(
        self,
        app: App,
        request: EventsRequest,
        event: Any,
        campaign: dict[str, Any],
        user_id: str | None,
        device_id: str | None,
    ) -> HttpApiEvent:
        revenue = _revenue(event.properties)
        identity = f"{app.app_id}|{device_id or user_id}|{event.event_name}|{event.timestamp}|{event.session_id}"
        properties = {
            **{k: v for k, v in event.properties.items() if isinstance(v, (str, int, float, bool))},
            **campaign,
            "session_uuid": event.session_id,
        }
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


def _revenue(properties: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """Seed 002: events with properties.amount and properties.currency are revenue."""
    amount, currency = properties.get("amount"), clean_text(properties.get("currency"))
    if amount is None or currency is None or isinstance(amount, bool):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation as error:
        raise BadRequest(f"properties.amount {amount!r} is not a number") from error
    if not value.is_finite():
        raise BadRequest(f"properties.amount {amount!r} is not a number")
    return value, currency.upper()
