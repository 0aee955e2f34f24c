"""Progress on the operators' long commands (`replay` over many days, `dlq replay` of thousands of
letters): tqdm's bar on stderr, shown only where a person watches (stderr a terminal) and never
with `--json`, whose output is for programs. The summary line is printed either way."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def progress(items: Iterable[Item], *, what: str, unit: str, quiet: bool = False) -> Iterator[Item]:
    """`items`, counted on a progress bar while they are consumed."""
    from tqdm import tqdm

    # disable=None: tqdm shows the bar only when its file is a terminal.
    yield from tqdm(items, desc=what, unit=f" {unit}", file=sys.stderr, disable=True if quiet else None, leave=False)
