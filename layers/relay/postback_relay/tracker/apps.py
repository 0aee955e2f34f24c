"""Registering apps for the first-party tracker. An app's API key is shown once; only its hash is kept."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid

from ada_url import URL

from .models import App
from .redirects import has_control_or_space, normalize_domain
from .store import TrackerStore

API_KEY_PREFIX = "ak_"
# Where each platform's store page lives: clicks with no redirect_url are sent there.
APP_STORE_HOSTS = frozenset({"apps.apple.com", "itunes.apple.com"})
PLAY_STORE_HOSTS = frozenset({"play.google.com"})
# RFC 1123 labels, checked on the ASCII (punycode) form the WHATWG parser gives.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class AppError(ValueError):
    """An operator's mistake registering an app, in one line naming the fix."""


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or has_control_or_space(cleaned.replace(" ", "")):
        raise AppError("--name must be a non-empty name without control characters (e.g. --name 'Paper Boat')")
    return cleaned


def check_store_url(url: str, flag: str, store: str, hosts: frozenset[str]) -> str:
    """The store page as the tracker will send browsers to it (the WHATWG parser's serialization)."""
    example = f"https://{min(hosts)}/..."
    try:
        parsed = URL(url.strip())
    except (ValueError, UnicodeError):
        raise AppError(f"{flag} {url!r} is not a URL: give the app's {store} page, {example}") from None
    if parsed.protocol != "https:" or parsed.hostname not in hosts or parsed.username or parsed.password or parsed.port:
        raise AppError(f"{flag} {url!r} is not an https URL of the {store}: give the app's page there, {example}")
    return str(parsed.href)


def check_domain(domain: str) -> str:
    """A redirect domain in the form clicks are compared in; a host name of two labels at least."""
    normalized = normalize_domain(domain)
    labels = normalized.split(".") if normalized else []
    if (
        normalized is None
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise AppError(
            f"--redirect-domain {domain!r} is not a host name: give one such as promo.example.com "
            "(no scheme, path, port or IP address)"
        )
    return normalized


def _duplicate(store: TrackerStore, app: App) -> str | None:
    """What an already registered app shares with `app` (its name, or a store page), if anything."""
    for other in store.list_apps():
        if other.name.casefold() == app.name.casefold():
            return f"an app named {other.name!r} is already registered (app_id {other.app_id})"
        for url, label in ((app.ios_store_url, "App Store"), (app.android_store_url, "Play Store")):
            if url is not None and url in (other.ios_store_url, other.android_store_url):
                return f"app {other.name!r} (app_id {other.app_id}) already has the {label} page {url}"
    return None


def hash_api_key(api_key: str) -> str:
    # A random 192-bit key needs no slow hash: SHA-256 is enough to keep it unrecoverable.
    return hashlib.sha256(api_key.encode()).hexdigest()


def register_app(
    store: TrackerStore,
    name: str,
    ios_store_url: str | None = None,
    android_store_url: str | None = None,
    redirect_domains: list[str] | None = None,
    amplitude_key_ref: str | None = None,
    now_ms: int | None = None,
    *,
    allow_duplicate: bool = False,
) -> tuple[App, str]:
    """The new app and its API key (the only time the key is ever available). AppError for a blank
    name, a store URL that is not the platform's store, a redirect domain that is not a host name, or
    a second app with the same name or store page (unless `allow_duplicate`)."""
    cleaned_name = check_name(name)
    ios = check_store_url(ios_store_url, "--ios-store-url", "App Store", APP_STORE_HOSTS) if ios_store_url else None
    android = (
        check_store_url(android_store_url, "--android-store-url", "Play Store", PLAY_STORE_HOSTS)
        if android_store_url
        else None
    )
    # Kept as clicks are compared: the WHATWG host form (ASCII/punycode, lower case, no trailing dot).
    domains = list(dict.fromkeys(check_domain(domain) for domain in redirect_domains or []))
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(24)
    app = App(
        app_id=str(uuid.uuid4()),
        name=cleaned_name,
        ios_store_url=ios,
        android_store_url=android,
        redirect_domains=domains,
        amplitude_key_ref=amplitude_key_ref,
        api_key_hash=hash_api_key(api_key),
        created_at_ms=now_ms if now_ms is not None else int(time.time() * 1000),
    )
    if not allow_duplicate and (duplicate := _duplicate(store, app)) is not None:
        # Two apps with one name or one store page split their clicks and installs between them.
        raise AppError(f"{duplicate}: pass --allow-duplicate to register another anyway")
    store.put_app(app)
    return app, api_key
