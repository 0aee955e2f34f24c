"""Amplitude's user-property operations ($set, $setOnce, $add, …) applied to a property dict (Identify API).

The operations and their semantics: https://amplitude.com/docs/apis/analytics/identify and docs/emulator.md.
"""

from __future__ import annotations

import copy
from typing import Any

from .settings import EmulatorSettings

__all__ = ["OPERATORS", "MixedOperatorsError", "apply_user_properties", "uses_operators"]

OPERATORS = frozenset(
    {"$set", "$setOnce", "$add", "$append", "$prepend", "$preInsert", "$postInsert", "$remove", "$unset"}
    | {"$clearAll"}
)


class MixedOperatorsError(ValueError):
    """A user_properties dict mixing operators with plain keys (or using an unknown operator)."""


def uses_operators(props: dict[str, Any]) -> bool:
    return any(key.startswith("$") for key in props)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def validate(props: dict[str, Any]) -> None:
    """Raise MixedOperatorsError for the combinations Amplitude forbids."""
    if not uses_operators(props):
        return
    bad = sorted(k for k in props if k not in OPERATORS)
    if bad:
        raise MixedOperatorsError(f"user_properties mixes operators with other keys (or unknown operators): {bad}")
    for op, value in props.items():
        if op != "$clearAll" and not isinstance(value, dict):
            raise MixedOperatorsError(f"user_properties.{op} must be a JSON object")


def apply_user_properties(
    current: dict[str, Any], props: dict[str, Any], settings: EmulatorSettings | None = None
) -> dict[str, Any]:
    """A new property dict: `current` with `props` applied. A dict without `$` keys means `$set` of each key."""
    settings = settings or EmulatorSettings()
    validate(props)
    result = copy.deepcopy(current)
    if not uses_operators(props):
        props = {"$set": props}
    for op in settings.operation_order:
        if op not in props:
            continue
        if op == "$clearAll":
            result.clear()
            continue
        for key, value in props[op].items():
            _apply_one(result, op, key, value, settings)
    return result


def _apply_one(props: dict[str, Any], op: str, key: str, value: Any, settings: EmulatorSettings) -> None:
    exists = key in props and props[key] is not None
    if op == "$set":
        props[key] = copy.deepcopy(value)
    elif op == "$setOnce":
        if not exists:
            props[key] = copy.deepcopy(value)
    elif op == "$unset":
        props.pop(key, None)
    elif op == "$add":
        if not _is_number(value):
            return  # a non-numeric increment changes nothing
        if not exists:
            props[key] = value  # starts from 0 [D in SDK docs]
        elif _is_number(props[key]):
            props[key] = props[key] + value
        elif settings.add_to_non_numeric == "replace":
            props[key] = value
    elif op in ("$append", "$prepend"):
        existing = _as_list(props[key]) if exists else []  # scalar → list, then append [D in SDK docs]
        items = _as_list(copy.deepcopy(value))
        props[key] = existing + items if op == "$append" else items + existing
    elif op in ("$preInsert", "$postInsert", "$remove"):
        if exists and not isinstance(props[key], list) and settings.insert_into_scalar == "ignore":
            return
        existing = _as_list(props[key]) if exists else []
        items = _as_list(copy.deepcopy(value))
        if op == "$remove":
            if exists:
                props[key] = [v for v in existing if v not in items]  # every occurrence
            return
        fresh: list[Any] = []
        for item in items:  # insert only what is not there yet, keeping the array's order
            if item not in existing and item not in fresh:
                fresh.append(item)
        props[key] = fresh + existing if op == "$preInsert" else existing + fresh
