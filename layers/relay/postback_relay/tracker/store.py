"""The tracker's DynamoDB tables behind one small class: apps, clicks (7-day TTL), installs.

A click is written under each key it can be matched by (device hash, fingerprint), so the
waterfall reads with plain key queries, newest first, and no index.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .models import App, Attribution, Click

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

CLICK_TTL_S = 7 * 24 * 3600
_MATCH_PAGE = 25


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBServiceResource:
    import boto3

    return boto3.resource("dynamodb")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB numbers come back as Decimal; our models want ints."""
    return {key: int(value) if isinstance(value, Decimal) else value for key, value in item.items()}


class TrackerStore:
    def __init__(self, apps_table: str, clicks_table: str, installs_table: str) -> None:
        self.apps: Table = dynamodb().Table(apps_table)
        self.clicks: Table = dynamodb().Table(clicks_table)
        self.installs: Table = dynamodb().Table(installs_table)

    # -- apps ------------------------------------------------------------------------------
    def put_app(self, app: App) -> None:
        from boto3.dynamodb.conditions import Attr

        self.apps.put_item(Item=app.model_dump(exclude_none=True), ConditionExpression=Attr("app_id").not_exists())

    def get_app(self, app_id: str) -> App | None:
        item = self.apps.get_item(Key={"app_id": app_id}).get("Item")
        return App.model_validate(_plain(item)) if item else None

    def list_apps(self) -> list[App]:
        """Every app, for `postback-relay apps list` (operators only): requests never scan."""
        items: list[dict[str, Any]] = []
        answer = self.apps.scan()
        items.extend(answer.get("Items", []))
        while "LastEvaluatedKey" in answer:
            answer = self.apps.scan(ExclusiveStartKey=answer["LastEvaluatedKey"])
            items.extend(answer.get("Items", []))
        return sorted((App.model_validate(_plain(item)) for item in items), key=lambda app: app.created_at_ms)

    # -- clicks ----------------------------------------------------------------------------
    def put_click(self, click: Click) -> None:
        expires_at = click.clicked_at_ms // 1000 + CLICK_TTL_S
        record = {**click.model_dump(exclude_none=True), "expires_at": expires_at}
        for match_key in self._match_keys(click.app_id, click.device_hash, click.fingerprint):
            self.clicks.put_item(
                Item={**record, "match_key": match_key, "sort": f"{click.clicked_at_ms:015d}#{click.click_id}"}
            )

    def clicks_for(
        self, app_id: str, device_hash: str | None, fingerprint: str | None
    ) -> tuple[list[Click], list[Click]]:
        """(clicks matching the device, clicks matching the fingerprint), newest first."""
        return self._query(self._match_keys(app_id, device_hash, None)), self._query(
            self._match_keys(app_id, None, fingerprint)
        )

    def _query(self, keys: list[str]) -> list[Click]:
        from boto3.dynamodb.conditions import Key

        found: list[Click] = []
        for match_key in keys:
            answer = self.clicks.query(
                KeyConditionExpression=Key("match_key").eq(match_key), ScanIndexForward=False, Limit=_MATCH_PAGE
            )
            for item in answer.get("Items", []):
                record = {k: v for k, v in _plain(item).items() if k not in ("match_key", "sort", "expires_at")}
                found.append(Click.model_validate(record))
        return found

    @staticmethod
    def _match_keys(app_id: str, device_hash: str | None, fingerprint: str | None) -> list[str]:
        keys = []
        if device_hash:
            keys.append(f"{app_id}#device#{device_hash}")
        if fingerprint:
            keys.append(f"{app_id}#fingerprint#{fingerprint}")
        return keys

    # -- installs --------------------------------------------------------------------------
    def put_install(self, app_id: str, device_hash: str, attribution: Attribution, installed_at_ms: int) -> None:
        self.installs.put_item(
            Item={
                "install_key": f"{app_id}#{device_hash}",
                "installed_at_ms": installed_at_ms,
                **attribution.model_dump(exclude_none=True),
            }
        )

    def install_for(self, app_id: str, device_hash: str) -> Attribution | None:
        item = self.installs.get_item(Key={"install_key": f"{app_id}#{device_hash}"}).get("Item")
        if not item:
            return None
        return Attribution.model_validate({k: v for k, v in _plain(item).items() if k in Attribution.model_fields})

    # -- erasure (`postback-relay forget`) -------------------------------------------------
    def erase_device(self, app_id: str, device_hash: str, *, dry_run: bool = False) -> tuple[int, int, int]:
        """Delete one device's clicks and install in one app, by key: (clicks, click rows, installs).

        A click is stored under its device key and, when it had one, its fingerprint key (IP-derived):
        both rows go. Clicks stored under a fingerprint alone name no device and are not found here."""
        from boto3.dynamodb.conditions import Key

        rows: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("match_key").eq(f"{app_id}#device#{device_hash}"),
            "ProjectionExpression": "match_key, #sort, fingerprint",
            "ExpressionAttributeNames": {"#sort": "sort"},
        }
        while True:
            answer = self.clicks.query(**query)
            rows.extend(answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        keys = [{"match_key": row["match_key"], "sort": row["sort"]} for row in rows]
        keys += [
            {"match_key": f"{app_id}#fingerprint#{row['fingerprint']}", "sort": row["sort"]}
            for row in rows
            if row.get("fingerprint")
        ]
        install_key = {"install_key": f"{app_id}#{device_hash}"}
        if dry_run:
            installs = (
                1 if self.installs.get_item(Key=install_key, ProjectionExpression="install_key").get("Item") else 0
            )
            return len(rows), len(keys), installs
        for key in keys:
            self.clicks.delete_item(Key=key)
        installs = 1 if self.installs.delete_item(Key=install_key, ReturnValues="ALL_OLD").get("Attributes") else 0
        return len(rows), len(keys), installs
