"""Which dead letters an operator's `dlq list`, `dlq replay` or `dlq purge` acts on.

Filters of one kind are alternatives (`--partner adjust --partner branch`), kinds narrow each other
(`--partner adjust --reason rejected`). An id is either one `dlq list` shows: the SQS message id
(the first column; `message_id` in `--json` and in an export) or the call's `insert_id` (the one
Amplitude de-duplicates on, also in the partner's answer and `dlq list --json`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from postback_relay.messages import DeadLetter, DeadLetterReason
from postback_relay.partners.registry import CUSTOM_PREFIX


@dataclass(frozen=True)
class LetterFilter:
    partners: frozenset[str] = frozenset()
    reasons: frozenset[DeadLetterReason] = frozenset()
    ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, partners: Iterable[str] = (), reasons: Iterable[str] = (), ids: Iterable[str] = ()) -> LetterFilter:
        """From the command line: `custom/unity-ads` is the custom network `unity-ads`, as its
        postback URL names it; reasons are DeadLetterReason values (argparse checks them)."""
        return cls(
            frozenset(partner.strip().lower().removeprefix(CUSTOM_PREFIX) for partner in partners if partner.strip()),
            frozenset(DeadLetterReason(reason) for reason in reasons),
            frozenset(identifier.strip() for identifier in ids if identifier.strip()),
        )

    @property
    def everything(self) -> bool:
        return not (self.partners or self.reasons or self.ids)

    def matches(self, message_id: str | None, letter: DeadLetter) -> bool:
        if self.partners and (letter.partner or "").lower() not in self.partners:
            return False
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.ids:
            insert_id = letter.call.insert_id if letter.call is not None else None
            return message_id in self.ids or insert_id in self.ids
        return True

    def describe(self) -> str:
        """`matching partner adjust, reason rejected` for the summary lines; empty for no filter."""
        parts = [
            f"{label} {' or '.join(sorted(values))}"
            for label, values in (("partner", self.partners), ("reason", self.reasons), ("id", self.ids))
            if values
        ]
        return "matching " + ", ".join(parts) if parts else ""
