"""Personal data: keyed hashes, the archive's IP and user-agent fields, and who a record is about.

Keyed hashes are HMAC-SHA-256 under `RELAY_HASH_SALT`, the key the first-party tracker already
stores device ids and fingerprints under (tracker/service.py), cut to 40 hex digits like its own.
A device id hashes exactly as the tracker's `device_hash`, so an erasure of a device also finds
the tracker's archived clicks, which hold only that hash.

Two uses here:
- `pseudonymise`: before a postback is archived, every field named as an IP address or a user
  agent (at any depth) is replaced by its keyed hash. Nothing the relay sends to Amplitude is read
  from those fields, so replay from the archive still works; a hash still tells two values apart.
- `Person`: one user id or device id an operator was asked to forget, matched against archived
  postbacks, queue messages and dead-letter exports (`forget.py`), and, hashed, against the
  erasure records that `replay` and `dlq replay` consult (`erasures.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .models.postback import Postback

HASHED_PREFIX = "hmac-sha256:"
# Stored instead when no key is configured where one must be (see `archive_hash_key`).
REMOVED = "[removed]"
DEFAULT_LOCAL_KEY = "postback-relay-local"  # config.Settings' default: public, fit for local use only

Kind = Literal["user", "device"]
_HEX40 = re.compile(r"[0-9a-f]{40}")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_IP_WORDS = frozenset({"ip", "ips", "ipv4", "ipv6", "ipaddr", "ipaddress"})
_IP_JOINED = frozenset({"remoteaddr", "remoteaddress", "forwardedfor", "xforwardedfor", "clientaddress"})
_UA_WORDS = frozenset({"ua", "useragent"})


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA-256 of `value` under `key`, 40 hex digits (the tracker's form). surrogatepass: an
    operator's argument may hold bytes that are not UTF-8; it must hash, not crash."""
    digest = hmac.new(key.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hexdigest()[:40]


def archive_hash_key() -> str | None:
    """The key the archive's IP and user-agent hashes are made with, or None: inside Lambda without
    RELAY_HASH_SALT the only key there is would be the public local default, under which an IPv4
    address is found again by trying all 2^32, so the values are dropped instead of hashed."""
    from .config import get_settings

    settings = get_settings()
    configured = settings.configured_hash_salt
    if configured:
        return configured
    if settings.lambda_function_name:
        return None
    return settings.hash_salt


# -- the archive's IP and user-agent fields ------------------------------------------------------
def key_words(name: str) -> list[str]:
    """A field name's words, lower case: `sourceIp` → ["source", "ip"], `tracker_token` → ["tracker", "token"]."""
    return [word for word in _NOT_ALNUM.split(_CAMEL.sub(r"\1_\2", name).lower()) if word]


def network_field(name: str) -> str | None:
    """ "ip" or "user_agent" when a field's name says it holds one, else None.

    By words, so `ip`, `ip_address`, `sourceIp`, `device_ip`, `x_forwarded_for`, `user_agent`,
    `userAgent`, `device_ua`, `ua` are found and `zip`, `ship`, `ipad_model` are not."""
    words = key_words(name)
    joined = "".join(words)
    if any(word in _IP_WORDS for word in words) or joined in _IP_JOINED:
        return "ip"
    if any(word in _UA_WORDS for word in words) or "useragent" in joined:
        return "user_agent"
    return None


def _hashed(kind: str, value: Any, key: str | None) -> Any:
    if isinstance(value, Mapping):
        return {k: _hashed(kind, v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_hashed(kind, v, key) for v in value]
    if value is None or isinstance(value, bool) or value == "":
        return value  # nothing to hide
    if key is None:
        return REMOVED
    text = value if isinstance(value, str) else str(value)
    return HASHED_PREFIX + keyed_hash(key, f"{kind}|{text.strip()}")


# network_field by name, for the names seen so far: this runs on every field of every postback.
_KINDS: dict[str, str | None] = {}
_KINDS_MAX = 4096  # names are the caller's to choose: the cache must not grow without bound
_UNSEEN = ""  # never a kind


def _kind(name: str) -> str | None:
    kind = network_field(name)
    if len(_KINDS) < _KINDS_MAX:
        _KINDS[name] = kind
    return kind


def pseudonymise(raw: Mapping[str, Any], key: str | None) -> tuple[dict[str, Any], list[str]]:
    """A copy of `raw` with each IP or user-agent field's value replaced by its keyed hash (by
    REMOVED when `key` is None), and the dotted paths of the fields replaced.

    Values hidden inside text that holds JSON (an event value) are not parsed out. On the hot path:
    a field is looked at once, and only what changes is copied (nothing mutates a postback later)."""
    paths: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, list):
            items = [walk(item, f"{path}[{index}]") for index, item in enumerate(node)]
            return items if any(new is not old for new, old in zip(items, node, strict=True)) else node
        if not isinstance(node, Mapping):
            return node
        copied: dict[str, Any] | None = None
        known = _KINDS.get
        for name, value in node.items():
            kind = known(name, _UNSEEN)
            if kind is None:
                if type(value) is not dict and type(value) is not list:
                    continue  # most fields: a name seen before, a value with nothing inside
            elif kind == _UNSEEN:
                kind = _kind(name) if type(name) is str else None
            if kind is not None:
                if value is None or value == "":
                    continue  # nothing to hide
                new = _hashed(kind, value, key)
                paths.append(f"{path}.{name}" if path else name)
            elif type(value) is dict or type(value) is list:
                new = walk(value, f"{path}.{name}" if path else str(name))
                if new is value:
                    continue
            else:
                continue
            if copied is None:
                copied = dict(node)
            copied[name] = new
        return copied if copied is not None else node

    kept = walk(raw, "")
    return (dict(kept) if kept is raw else kept), paths


# -- who a record is about -----------------------------------------------------------------------
def normalised(kind: Kind, value: str) -> str:
    """A user id compares as sent, less surrounding space (ids.clean_user_id); a device id also
    regardless of case (IDFAs are upper case, Android ids lower, partners send either)."""
    return value.strip() if kind == "user" else value.strip().lower()


def person_hash(key: str, kind: Kind, value: str) -> str:
    """The keyed hash an erasure is recorded under; for a device, the tracker's device_hash."""
    return keyed_hash(key, f"{kind}|{normalised(kind, value)}")


def postback_hash(key: str, postback_id: str) -> str:
    """The keyed hash an erased postback is recorded under: its other traces (an attribution call
    holds device ids only, never the user id it was forgotten by) are skipped by it."""
    return keyed_hash(key, f"postback|{postback_id}")


def postback_id_of(insert_id: str) -> str | None:
    """The postback id an Amplitude call's insert_id ends in (mapping.py: `<partner>-<endpoint>-<id>`)."""
    tail = insert_id.rsplit("-", 1)[-1]
    return tail if _HEX40.fullmatch(tail) else None


def scalars(document: Any) -> Iterator[str]:
    """Every text (and integer) value anywhere in a JSON document, as text."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool):
            yield str(node)


def postback_ids(postback: Postback) -> list[tuple[Kind, str]]:
    """The ids a normalised postback names its person by."""
    found: list[tuple[Kind, str]] = [("user", postback.user_id)] if postback.user_id else []
    ids = postback.ids
    for device in (ids.idfa, ids.idfv, ids.adid, ids.android_app_set_id, ids.android_id):
        if device:
            found.append(("device", device))
    return found


def carried_hashes(key: str, document: Any, identities: Sequence[tuple[Kind, str]] = ()) -> set[str]:
    """The keyed hashes of every person `document` could be about: each text value taken as a user
    id and as a device id, each 40-hex value as it is (a tracker device hash), and `identities`
    (the ids its partner's adapter reads out of it). `Person.matches` is the same test, unhashed."""
    hashes: set[str] = set()
    for text in scalars(document):
        hashes.add(person_hash(key, "user", text))
        hashes.add(person_hash(key, "device", text))
        if _HEX40.fullmatch(text):
            hashes.add(text)
    for kind, value in identities:
        hashes.add(person_hash(key, kind, value))
    return hashes


@dataclass(frozen=True)
class Person:
    """One person to forget, by a user id or a device id. `repr` never shows the id."""

    kind: Kind
    value: str
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalised(self.kind, self.value))

    def __repr__(self) -> str:
        return f"Person({self.kind}, {self.hash})"

    __str__ = __repr__

    @property
    def hash(self) -> str:
        return person_hash(self.key, self.kind, self.value)

    def matches(self, document: Any, identities: Sequence[tuple[Kind, str]] = ()) -> bool:
        """Whether `document` carries this person's id as the whole of any value (anywhere in it),
        their hash (a tracker record), or names them through `identities`."""
        own_hash = self.hash
        for text in scalars(document):
            if normalised(self.kind, text) == self.value or text == own_hash:
                return True
        return any(kind == self.kind and normalised(kind, value) == self.value for kind, value in identities)
