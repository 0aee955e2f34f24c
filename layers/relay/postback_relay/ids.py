"""Identifier hygiene shared by every partner adapter.

Partners send placeholders they could not fill as literal macros (`{idfa}`, `{{advertising_id}}`,
`${(user_data.idfa)!}`), opt-out devices as all-zero ids, and many keys as empty strings or
"null". None of those may ever reach Amplitude: an all-zero IDFA would merge every opted-out user.

Device ids are also checked for their format; anything else counts as missing, never forwarded:
- IDFA and IDFV are UUIDs (https://developer.apple.com/documentation/adsupport/asidentifiermanager/advertisingidentifier,
  https://developer.apple.com/documentation/uikit/uidevice/identifierforvendor). A device that did
  not authorise tracking reports the all-zero IDFA: treated as missing.
- Google's advertising id is a UUID, all zeros after the user deletes it
  (https://support.google.com/googleplay/android-developer/answer/6048248); Amazon Fire's too
  (https://developer.amazon.com/docs/policy-center/advertising-id.html). Google documents no format
  for the App Set ID (https://developer.android.com/identity/app-set-id); the SDK returns a UUID,
  and every partner sample holds one, so it is checked as one too.
- The Android ID is a 64-bit number as 16 hex digits
  (https://developer.android.com/reference/android/provider/Settings.Secure#ANDROID_ID).
"""

from __future__ import annotations

import re
from typing import Any

_MACRO = re.compile(
    r"""^(
        \{\{.*\}\}          # Tenjin {{x}}
      | \{.*\}              # Adjust, Kochava, Singular {x}
      | \$\{.*\}            # Branch Freemarker ${(x)!}
      | %7B.*%7D            # a macro that was URL-encoded instead of replaced
      | \[[A-Z0-9_]+\]      # [MACRO] style (upper-case names only: "[US] brand" is a campaign)
      | __[A-Z0-9_]+__      # __MACRO__ style
    )$""",
    re.VERBOSE,
)
# Real data of a macro's shape in some free-text fields: a JSON object (a macro name never holds
# a double quote) and Singular's own event names (`__START__`).
_JSON_OBJECT = re.compile(r'^\{.*".*\}$', re.DOTALL)
_DUNDER_NAME = re.compile(r"^__[A-Za-z0-9_]*[A-Za-z0-9]__$")
# Every shape in _MACRO starts with one of these: any other text skips the regular expressions.
_MACRO_STARTS = frozenset("{$%[_")

_ZEROS = re.compile(r"^[0\-]+$")
# The hyphenated form only: the platforms' SDKs report no other, and anything else is not theirs.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ANDROID_ID = re.compile(r"[0-9a-fA-F]{16}")
_PLACEHOLDER_WORDS = frozenset(
    {"null", "none", "nil", "undefined", "unknown", "n/a", "na", "(null)", "-", '""', "{}", "[]"}
)
_LONGEST_PLACEHOLDER = max(map(len, _PLACEHOLDER_WORDS))


def is_macro(value: str, *, json_objects: bool = False, dunder_names: bool = False) -> bool:
    """True for an unreplaced postback macro such as `{idfa}` or `{{time_in_ms}}`.

    Two free-text fields hold real data of a macro's shape, and their readers say so:
    `json_objects` (an event value): a `{...}` holding a double quote is a JSON object, since no
    macro name holds one; `dunder_names` (Singular's event names): `__START__` is a name. Everything
    else, ids above all, stays strict: any `{...}` or `__UPPER__` is a macro.
    """
    text = value.strip()
    if not text or text[0] not in _MACRO_STARTS:
        return False
    if json_objects and _JSON_OBJECT.match(text):
        return False
    if dunder_names and _DUNDER_NAME.match(text):
        return False
    return bool(_MACRO.match(text))


def clean_text(value: Any, *, json_objects: bool = False, dunder_names: bool = False) -> str | None:
    """A usable text value, or None for empty strings, placeholder words and unreplaced macros
    (for the two flags see `is_macro`)."""
    # Runs on every field of every postback: the common cases (a str, a null) are tested first.
    if type(value) is not str:
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return str(value)
        if not isinstance(value, str):
            return None
    text = value.strip()
    if (
        not text
        or (len(text) <= _LONGEST_PLACEHOLDER and text.lower() in _PLACEHOLDER_WORDS)
        or is_macro(text, json_objects=json_objects, dunder_names=dunder_names)
    ):
        return None
    return text


def clean_device_id(value: Any) -> str | None:
    """A usable device identifier: text (never a number, list or object), not a placeholder, not all zeros."""
    text = clean_text(value) if isinstance(value, str) else None
    if text is None or _ZEROS.match(text):
        return None
    return text


def _uuid(value: Any) -> str | None:
    """A usable device id in the 8-4-4-4-12 hex form, as sent (case untouched)."""
    text = clean_device_id(value)
    return text if text is not None and _UUID.fullmatch(text) else None


def clean_idfa(value: Any) -> str | None:
    """IDFA / IDFV: a UUID, upper case, as Apple's SDK and Amplitude's iOS SDK report them."""
    text = _uuid(value)
    return text.upper() if text else None


def clean_gaid(value: Any) -> str | None:
    """Google / Amazon advertising id and App Set id: a UUID, lower case, as Android reports them."""
    text = _uuid(value)
    return text.lower() if text else None


def clean_android_id(value: Any) -> str | None:
    """Android ID: 16 hex digits, lower case."""
    text = clean_device_id(value)
    return text.lower() if text is not None and _ANDROID_ID.fullmatch(text) else None


def clean_user_id(value: Any) -> str | None:
    """The app's own user id. Amplitude refuses ids shorter than 5 characters by default."""
    text = clean_text(value)
    if text is None or _ZEROS.match(text):
        return None
    return text


def unencodable(text: str) -> bool:
    """True for text that cannot be written as UTF-8: it holds a lone UTF-16 surrogate, which JSON's
    `\\ud800` escapes and surrogate-escaped bytes produce. No JSON encoder or HTTP client downstream
    can carry it faithfully."""
    if text.isascii():  # the common case, without building an encoded copy
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
