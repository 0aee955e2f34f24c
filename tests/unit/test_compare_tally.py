"""compare's dry re-mapping of the archive tallies what it cannot compare by why: a SKAdNetwork
postback (answered not_forwarded, never sent) is not counted as undeliverable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from postback_relay.archive import ArchivedPostback
from postback_relay.partners.registry import coded_partners
from postback_relay_tools.compare import Tally, remapped
from tests.unit.partner_cases import load
from tests.unit.partner_tables.appsflyer import SKAN_INSTALL

DAY = date(2026, 12, 1)


class OneDayArchive:
    def __init__(self, *raws: dict[str, Any]) -> None:
        self.items = [ArchivedPostback("appsflyer", 1_764_547_200_000, f"id-{n}", raw) for n, raw in enumerate(raws)]

    def read(self, partner: str, since: date, until: date, shared: bool = False) -> Iterator[ArchivedPostback]:
        yield from self.items


def test_skan_postbacks_are_tallied_apart_from_undeliverable_ones() -> None:
    undeliverable = load("appsflyer", "install_ios") | {"idfa": "", "idfv": "", "customer_user_id": None}
    archive = OneDayArchive(SKAN_INSTALL, undeliverable, load("appsflyer", "install_ios"))
    tally = Tally()
    kept = list(remapped(archive, coded_partners()["appsflyer"], DAY, DAY, None, tally))  # type: ignore[arg-type]
    assert (tally.postbacks, tally.not_forwarded, tally.undeliverable, len(kept)) == (3, 1, 1, 1)
