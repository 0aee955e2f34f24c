"""Registering apps for the first-party tracker. An app's API key is shown once; only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

from .models import App
from .redirects import normalize_domain
from .store import TrackerStore

API_KEY_PREFIX = "ak_"


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
) -> tuple[App, str]:
    """The new app and its API key (the only time the key is ever available)."""
    domains = []
    for domain in redirect_domains or []:
        # Kept as clicks are compared: the WHATWG host form (ASCII/punycode, lower case, no trailing dot).
        normalized = normalize_domain(domain)
        if normalized is None:
            raise ValueError(f"redirect domain {domain!r} is not a domain name (give a host such as promo.example)")
        domains.append(normalized)
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(24)
    app = App(
        app_id=str(uuid.uuid4()),
        name=name,
        ios_store_url=ios_store_url,
        android_store_url=android_store_url,
        redirect_domains=domains,
        amplitude_key_ref=amplitude_key_ref,
        api_key_hash=hash_api_key(api_key),
        created_at_ms=now_ms if now_ms is not None else int(time.time() * 1000),
    )
    store.put_app(app)
    return app, api_key
