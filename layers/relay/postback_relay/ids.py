"""Identifier hygiene shared by every partner adapter.

Partners send placeholders they could not fill as literal macros (`{idfa}`, `{{advertising_id}}`,
`${(user_data.idfa)!}`), opt-out devices as all-zero ids, and many keys as empty strings or
"null". None of those may ever reach Amplitude: an all-zero IDFA would merge every opted-out user.
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
    """A usable device identifier: also rejects all-zero ids (opted-out devices) and numbers."""
    text = clean_text(value) if isinstance(value, str) else None
    if text is None or _ZEROS.match(text):
        return None
    return text


def clean_idfa(value: Any) -> str | None:
    """IDFA / IDFV: upper case, as Apple's SDK and Amplitude's iOS SDK report them."""
    text = clean_device_id(value)
    return text.upper() if text else None


def clean_gaid(value: Any) -> str | None:
    """Google / Amazon advertising id and App Set id: lower case, as Android reports them."""
    text = clean_device_id(value)
    return text.lower() if text else None


def clean_user_id(value: Any) -> str | None:
    """The app's own user id. Amplitude refuses ids shorter than 5 characters by default."""
    text = clean_text(value)
    if text is None or _ZEROS.match(text):
        return None
    return text
