"""The naive baseline for the cold-start benchmark: an AppsFlyer relay written "the usual way".

Everything is imported and created at import time, whether the hot path needs it or not: boto3
clients for SQS, SSM and DynamoDB, Powertools Logger, Metrics and Tracer (Tracer needs aws-xray-sdk,
which Powertools' tracer extra installs with the project; without it the baseline runs without Tracer
and says so), a requests Session and pydantic models. The work per postback is the relay's happy
path reduced to its core: parse the JSON body, build one attribution event, POST it form-encoded to Amplitude.

Bench only: not deployed, not tested, not a pattern to copy.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import requests
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

# Created at import, used on the error path only (or never): the usual boilerplate.
sqs = boto3.client("sqs")
ssm = boto3.client("ssm")
dynamodb = boto3.client("dynamodb")

logger = Logger(service="naive-relay")
metrics = Metrics(namespace="NaiveRelay", service="naive-relay")

try:  # Tracer imports aws_xray_sdk when constructed; outside Lambda it stays disabled (no patching).
    from aws_lambda_powertools import Tracer

    tracer: Any = Tracer(service="naive-relay")
    TRACER = True
except ImportError:
    tracer = None
    TRACER = False

session = requests.Session()

AMPLITUDE_URL = os.environ.get("AMPLITUDE_API_URL", "https://api2.amplitude.com").rstrip("/") + "/attribution"
AMPLITUDE_API_KEY = os.environ.get("AMPLITUDE_API_KEY", "")
RETRY_QUEUE_URL = os.environ.get("RELAY_RETRY_QUEUE_URL", "")


class AppsFlyerPostback(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_name: str
    platform: str
    idfa: str | None = None
    idfv: str | None = None
    advertising_id: str | None = None
    customer_user_id: str | None = None
    media_source: str | None = None
    af_channel: str | None = None
    campaign: str | None = None
    af_c_id: str | None = None
    af_adset: str | None = None
    af_ad: str | None = None
    install_time: str | None = None
    event_time: str | None = None


class AttributionEvent(BaseModel):
    event_type: str
    platform: str
    idfa: str | None = None
    idfv: str | None = None
    adid: str | None = None
    time: int | None = None
    user_properties: dict[str, Any] = Field(default_factory=dict)


def _ms(value: str | None) -> int | None:
    if not value:
        return None
    moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    postback = AppsFlyerPostback.model_validate(json.loads(event.get("body") or "{}"))
    platform = postback.platform.lower()
    attribution = AttributionEvent(
        event_type="[AppsFlyer] Install" if postback.event_name == "install" else f"[AppsFlyer] {postback.event_name}",
        platform=platform,
        idfa=postback.idfa if platform == "ios" else None,
        idfv=postback.idfv if platform == "ios" else None,
        adid=postback.advertising_id if platform == "android" else None,
        time=_ms(postback.install_time or postback.event_time),
        user_properties={
            "[AppsFlyer] media source": postback.media_source,
            "[AppsFlyer] channel": postback.af_channel,
            "[AppsFlyer] campaign": postback.campaign,
            "[AppsFlyer] campaign id": postback.af_c_id,
            "[AppsFlyer] adset": postback.af_adset,
            "[AppsFlyer] ad": postback.af_ad,
        },
    )
    response = session.post(
        AMPLITUDE_URL,
        data={"api_key": AMPLITUDE_API_KEY, "event": attribution.model_dump_json(exclude_none=True)},
        timeout=(0.5, 0.8),
    )
    logger.info("delivered", extra={"status": response.status_code})
    metrics.add_metric(name="delivered", unit=MetricUnit.Count, value=1)
    status = 200 if response.ok else 202
    return {"statusCode": status, "body": json.dumps({"status": "delivered" if response.ok else "queued"})}


_wrapped = metrics.log_metrics(_handle)
if tracer is not None:
    _wrapped = tracer.capture_lambda_handler(_wrapped)
handler = logger.inject_lambda_context(_wrapped)
