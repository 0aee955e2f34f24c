"""Pass-through: a partner's unmapped keys forwarded as event properties, when the operator asks.

Partners send more than any adapter maps: an Adjust callback carries the app's own callback
parameters (`level`, `ad_format`), a Branch webhook its link's `~tags`. With pass-through rules
(`RELAY_PASS_THROUGH` per partner function, `pass_through:` in a mapping file), the keys they
name that the adapter does not map are sent with the event as `<label> <key>` properties
("[adjust] level"), on the Attribution event and on the HTTP V2 event alike.

Rules are key patterns (`fnmatch`, case-insensitive), comma-separated: `level,ad_*` allows,
`!debug_*` denies, `*` allows every unmapped key. A nested object's keys are its dotted paths
(`last_attributed_touch_data.~tags`): a pattern with a dot matches the path, one without matches
the key at any depth. Whatever the rules say, never passed: credentials (token,
secret, signature, key, password, auth), device and install ids (idfa, gaid, android_id, the
partners' own device ids...), user ids, IP addresses, user agents, e-mail addresses and phone
numbers, by key; and by value, any text shaped like a device id (a UUID, 16 or 32 hex digits) or
an IP address. See docs/partners.md#pass-through. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from ipaddress import ip_address
from typing import Any

from ..ids import clean_text
from ..privacy import key_words, network_field
from .fields import MAX_EVENT_PROPERTIES, MAX_PROPERTY_KEY, MAX_TEXT, Property

# Words of a key name that say it holds a credential or an identifier (split at "_", "-", ".", "~",
# "$", case changes): `tracker_token`, `api_key`, `fb_install_referrer_ad_id` is an ad's id, not
# a device's, so "id" alone is no such word.
_SECRET_WORDS = frozenset(
    {"token", "secret", "signature", "sig", "password", "passwd", "pwd", "auth", "key", "apikey", "jwt", "bearer"}
    | {"credential", "credentials"}
)
_ID_WORDS = frozenset(
    {
        "idfa",
        "idfv",
        "ifa",
        "ifv",
        "gaid",
        "aaid",
        "adid",
        "aifa",
        "aid",
        "oaid",
        "imei",
        "meid",
        "udid",
        "uid",
        "asid",
        "mac",
        "email",
        "em",
        "phone",
        "msisdn",
        # Ad click ids: they single out the click, hence the person (Google, Meta, TikTok, Microsoft).
        "gclid",
        "fbclid",
        "ttclid",
        "msclkid",
        "gbraid",
        "wbraid",
    }
)
# A key whose words, joined, hold one of these names an identifier: user_id, userId, userid,
# custom_user_id_2, device_id, customerid, advertising_id, android_id, app_set_id, player_id,
# account_id, click_id...
_ID_NAMES = re.compile(
    r"(user|device|customer|advertising|advertiser|android|appset|player|account|member|install|installation"
    r"|click|session|appsflyer|singular|kochava|branch)id|developeridentity"
)
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
_HEX_RUN = re.compile(r"[0-9a-f]{16,}", re.IGNORECASE)  # hashed ids and Android ids
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_IPV6_CANDIDATE = re.compile(r"[0-9a-f:.]{3,}", re.IGNORECASE)
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE = re.compile(r"\+?[\d\s().-]{10,}")
_APPSFLYER_ID = re.compile(r"\d{13}-\d{7,}")
_MAX_DEPTH = 2  # top-level keys, and the keys of their objects (Branch's touch data)


def never_passed(path: str) -> bool:
    """Whether a key (any part of its dotted path) names a credential, an identifier, an IP
    address or a user agent: such keys are never passed, whatever the rules allow."""
    for part in path.split("."):
        words = key_words(part)
        if network_field(part) is not None or any(word in _SECRET_WORDS or word in _ID_WORDS for word in words):
            return True
        if _ID_NAMES.search("".join(words)):
            return True
    return False


def identifying_value(text: str) -> bool:
    """Whether text holds something that identifies a device or a person: a UUID (IDFA, IDFV, GAID)
    or a run of 16+ hex digits (Android ids, hashed ids), an IP address, an e-mail address, a phone
    number, an AppsFlyer id, or a URL with a query string (where ids travel): never passed under
    any key."""
    stripped = text.strip()
    if _UUID.search(stripped) or _HEX_RUN.search(stripped) or _IPV4.search(stripped) or _EMAIL.search(stripped):
        return True
    if _APPSFLYER_ID.search(stripped) or ("?" in stripped and ("://" in stripped or stripped.startswith("www."))):
        return True
    if _PHONE.fullmatch(stripped) and sum(char.isdigit() for char in stripped) >= 10:
        return True
    for candidate in _IPV6_CANDIDATE.findall(stripped):
        if candidate.count(":") >= 2:
            try:
                ip_address(candidate.strip(":"))
            except ValueError:
                continue
            return True
    return False


class PassThroughError(ValueError):
    """Rules that cannot be used: the message names the rule."""


@dataclass(frozen=True)
class PassThrough:
    """Which unmapped keys are forwarded: those matching an `allow` pattern and no `deny` one."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> PassThrough:
        """Rules from `level,ad_*,!debug_*` (a `!` pattern denies); empty text: nothing passed."""
        allow: list[str] = []
        deny: list[str] = []
        for item in text.split(","):
            pattern = item.strip()
            if not pattern:
                continue
            target = deny if pattern.startswith("!") else allow
            pattern = pattern.removeprefix("!").strip()
            if not pattern:
                raise PassThroughError(f"pass-through rule {item.strip()!r} names no key")
            target.append(pattern.lower())
        if deny and not allow:
            raise PassThroughError("pass-through rules deny keys but allow none: add the keys to pass, or `*`")
        return cls(tuple(allow), tuple(deny))

    def __bool__(self) -> bool:
        return bool(self.allow)

    def passes(self, path: str) -> bool:
        return _matches(path, self.allow) and not _matches(path, self.deny) and not never_passed(path)

    def properties(
        self, raw: Mapping[str, Any], mapped: frozenset[str], label: str, room: int = MAX_EVENT_PROPERTIES
    ) -> dict[str, Property]:
        """`<label> <key>` → value for each key of `raw` these rules pass that is not `mapped` (a
        key or dotted path the adapter reads; a mapped object maps all of its keys), at most
        `room` of them, in the postback's order. Text is cleaned as mapped text is (placeholders,
        "null" and "" are no value); lists and deeper objects are skipped."""
        if not self:
            return {}
        properties: dict[str, Property] = {}
        for path, value in _scalars(raw, mapped):
            if len(properties) >= room:
                break
            if not self.passes(path):
                continue
            kept = _property_value(value)
            if kept is not None:
                properties[f"{label} {path}"[:MAX_PROPERTY_KEY]] = kept
        return properties


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    """A dotted pattern matches the whole path; a plain one the key at any depth (`~tags` matches
    `last_attributed_touch_data.~tags`)."""
    lowered = path.lower()
    leaf = lowered.rsplit(".", 1)[-1]
    return any(fnmatchcase(lowered if "." in pattern else leaf, pattern) for pattern in patterns)


def is_mapped(path: str, mapped: frozenset[str]) -> bool:
    """Whether the adapter maps `path`: it is named, or an object above it is (a templated GET
    sends Branch's `user_data.idfa` as one key, and `user_data` is mapped)."""
    if path in mapped:
        return True
    parts = path.split(".")
    return any(".".join(parts[:end]) in mapped for end in range(1, len(parts)))


def _scalars(
    data: Mapping[str, Any], mapped: frozenset[str], prefix: str = "", depth: int = 1
) -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if not isinstance(key, str) or not key.strip():
            continue
        path = f"{prefix}{key}"
        if is_mapped(path, mapped):
            continue
        if isinstance(value, Mapping):
            if depth < _MAX_DEPTH:
                yield from _scalars(value, mapped, f"{path}.", depth + 1)
        elif not isinstance(value, list):
            yield path, value


def _property_value(value: Any) -> Property | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    text = clean_text(value)
    if text is None or identifying_value(text):
        return None
    return text[:MAX_TEXT]
