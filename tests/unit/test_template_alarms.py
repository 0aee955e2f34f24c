"""The alarms in template.yaml can reach a person, and watch what on-call relies on: every function's
errors and throttles, the API's 5xx, archive failures, old retries, dead letters and their age."""

from __future__ import annotations

import re
from typing import Any

import pytest

from postback_relay.observability import METRICS_NAMESPACE
from postback_relay_tools.local.template import load_template
from tests.unit.template_document import TEMPLATE, parameter, resources, template

TOPIC = {"Ref": "AlarmTopic"}
FOURTEEN_DAYS_S = 14 * 24 * 3600
# PutMetricAlarm takes at most 10 MetricStat queries (and 10 expressions) in Metrics.
MAX_METRIC_STATS_PER_ALARM = 10


def _alarms() -> dict[str, dict[str, Any]]:
    return {logical_id: resource["Properties"] for logical_id, resource in resources("AWS::CloudWatch::Alarm").items()}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _refers_to(value: Any, logical_id: str) -> bool:
    """`!Ref logical_id` or `!GetAtt logical_id.<attribute>`."""
    if not isinstance(value, dict):
        return False
    if value.get("Ref") == logical_id:
        return True
    target = value.get("Fn::GetAtt")
    if isinstance(target, str):
        return target.split(".")[0] == logical_id
    return isinstance(target, list) and bool(target) and target[0] == logical_id


def _metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric an alarm reads: its own (single-metric alarm) or its Metrics' MetricStats."""
    if "MetricName" in alarm:
        own = {key: alarm[key] for key in ("Namespace", "MetricName")}
        return [{**own, "Dimensions": alarm.get("Dimensions", [])}]
    return [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]


def _queries(alarm: dict[str, Any]) -> list[str]:
    """The expressions (metric math or Metrics Insights) an alarm evaluates."""
    return [query["Expression"] for query in alarm.get("Metrics", []) if "Expression" in query]


def _dimension(metric: dict[str, Any], name: str) -> Any:
    return next((dimension["Value"] for dimension in metric.get("Dimensions", []) if dimension["Name"] == name), None)


def _alarms_on(namespace: str, metric_name: str) -> dict[str, dict[str, Any]]:
    """Alarms reading the metric, as a metric of their own or in a Metrics Insights query."""
    insights = re.compile(rf"\bSELECT\s+\w+\(\s*{re.escape(metric_name)}\s*\)\s+FROM\s+(SCHEMA\()?\"?{namespace}\b")
    return {
        logical_id: alarm
        for logical_id, alarm in _alarms().items()
        if any(m["Namespace"] == namespace and m["MetricName"] == metric_name for m in _metric_stats(alarm))
        or any(insights.search(query) for query in _queries(alarm))
    }


def _quiet_alarms() -> dict[str, dict[str, Any]]:
    """The alarms that fire on a partner's silence (ComparisonOperator LessThanThreshold)."""
    return {
        logical_id: alarm
        for logical_id, alarm in _alarms().items()
        if alarm.get("ComparisonOperator") == "LessThanThreshold"
    }


def _key_policy_statements(key_logical_id: str) -> list[dict[str, Any]]:
    key = template()["Resources"][key_logical_id]
    statements: list[dict[str, Any]] = key["Properties"]["KeyPolicy"]["Statement"]
    return statements


def _allows(statement: dict[str, Any], service: str, action: str) -> bool:
    principal = statement.get("Principal") or {}
    services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
    return statement.get("Effect") == "Allow" and service in services and action in _as_list(statement["Action"])


# ------------------------------------------------------------------------------ the path to a person


def test_the_alarm_topic_is_encrypted_with_the_stacks_own_key_which_cloudwatch_may_use() -> None:
    topic = template()["Resources"]["AlarmTopic"]["Properties"]
    keys = resources("AWS::KMS::Key")
    # Not alias/aws/sns: CloudWatch alarms cannot publish to a topic under the AWS-managed key.
    owner = [logical_id for logical_id in keys if _refers_to(topic.get("KmsMasterKeyId"), logical_id)]
    assert owner, f"AlarmTopic must be encrypted with a key of this stack, not {topic.get('KmsMasterKeyId')!r}"
    key = keys[owner[0]]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = _key_policy_statements(owner[0])
    cloudwatch = [s for s in statements if _allows(s, "cloudwatch.amazonaws.com", "kms:Decrypt")]
    assert cloudwatch, "the key policy must let cloudwatch.amazonaws.com decrypt"
    assert any(a in _as_list(cloudwatch[0]["Action"]) for a in ("kms:GenerateDataKey*", "kms:GenerateDataKey"))
    # The account keeps administering its key.
    assert any(
        s.get("Effect") == "Allow"
        and s.get("Action") == "kms:*"
        and s["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
        for s in statements
    )


def test_the_topic_policy_lets_this_accounts_cloudwatch_alarms_publish_over_tls_only() -> None:
    policies = [
        resource["Properties"]
        for resource in resources("AWS::SNS::TopicPolicy").values()
        if TOPIC in resource["Properties"]["Topics"]
    ]
    assert len(policies) == 1
    statements: list[dict[str, Any]] = policies[0]["PolicyDocument"]["Statement"]
    publish = [s for s in statements if _allows(s, "cloudwatch.amazonaws.com", "sns:Publish")]
    assert publish, "CloudWatch must be allowed to publish to the alarm topic"
    assert TOPIC in _as_list(publish[0]["Resource"])
    conditions = publish[0].get("Condition", {})
    assert conditions.get("StringEquals", {}).get("aws:SourceAccount") == {"Ref": "AWS::AccountId"}
    assert conditions.get("ArnLike", {}).get("aws:SourceArn") == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    }
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    ), "publishing without TLS must be denied"


@pytest.mark.parametrize("logical_id", sorted(_alarms()))
def test_every_alarm_notifies_the_topic_and_says_what_to_do(logical_id: str) -> None:
    alarm = _alarms()[logical_id]
    assert TOPIC in alarm["AlarmActions"]
    assert TOPIC in alarm["OKActions"]
    # Only a quiet-partner alarm treats silence as trouble: for the rest, no data is nothing wrong.
    assert alarm["TreatMissingData"] == ("breaching" if logical_id in _quiet_alarms() else "notBreaching")
    assert 60 < len(alarm["AlarmDescription"]) <= 1024  # PutMetricAlarm's limit


# ------------------------------------------------------------------------------ what the alarms watch


@pytest.mark.parametrize("metric_name", ["Errors", "Throttles"])
def test_one_alarm_sums_the_metric_of_every_function(metric_name: str) -> None:
    functions = set(resources("AWS::Serverless::Function"))
    assert len(functions) >= 9  # the eight HTTP-facing functions and the retry consumer
    covering = []
    for logical_id, alarm in _alarms_on("AWS/Lambda", metric_name).items():
        queries = [query for query in alarm.get("Metrics", []) if "MetricStat" in query]
        watched = {_dimension(query["MetricStat"]["Metric"], "FunctionName")["Ref"] for query in queries}
        if watched != functions:
            continue
        assert len(queries) <= MAX_METRIC_STATS_PER_ALARM, "split the alarm: too many metrics for one alarm"
        assert all(query["MetricStat"]["Stat"] == "Sum" and query["ReturnData"] is False for query in queries)
        (result,) = [query for query in alarm["Metrics"] if query.get("ReturnData") is True]
        # The alarm's expression adds up every function's series.
        assert set(re.findall(r"[a-z]\w*", result["Expression"])) == {query["Id"] for query in queries}
        assert "+" in result["Expression"]
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        covering.append(logical_id)
    assert covering, f"no alarm covers {metric_name} of every function ({sorted(functions)})"


def test_an_alarm_watches_the_http_apis_5xx() -> None:
    alarms = _alarms_on("AWS/ApiGateway", "5xx")
    assert alarms
    for alarm in alarms.values():
        (metric,) = _metric_stats(alarm)
        assert _dimension(metric, "ApiId") == {"Ref": "RelayHttpApi"}
        assert _dimension(metric, "Stage") == "$default"
        assert alarm["Statistic"] == "Sum"
        assert alarm["Threshold"] == 0


def test_an_alarm_watches_archive_failures_of_every_partner() -> None:
    alarms = _alarms_on(METRICS_NAMESPACE, "archive_failed")
    assert alarms
    for alarm in alarms.values():
        assert any(query.startswith("SELECT SUM(archive_failed)") for query in _queries(alarm))
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_an_alarm_watches_the_age_of_the_oldest_retried_call() -> None:
    alarms = _alarms_on(METRICS_NAMESPACE, "retry_age_seconds")
    assert alarms
    for alarm in alarms.values():
        assert any(query.startswith("SELECT MAX(retry_age_seconds)") for query in _queries(alarm))
        assert alarm["Threshold"] == {"Ref": "OldestRetryAlarmSeconds"}
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    # Well before Amplitude's Attribution API drops what it holds (72 h).
    assert parameter("OldestRetryAlarmSeconds")["Default"] < 72 * 3600


def test_an_alarm_fires_on_dead_letters_well_before_sqs_deletes_them() -> None:
    retention = template()["Resources"]["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert retention == FOURTEEN_DAYS_S
    on_age = {
        logical_id: alarm
        for logical_id, alarm in _alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage").items()
        if any(_refers_to(_dimension(m, "QueueName"), "DeadLetterQueue") for m in _metric_stats(alarm))
    }
    assert on_age, "no alarm on the age of the oldest dead letter"
    for alarm in on_age.values():
        assert alarm["Statistic"] == "Maximum"
        threshold = alarm["Threshold"]
        limit = parameter(threshold["Ref"]) if isinstance(threshold, dict) else {"Default": threshold}
        assert limit["Default"] < retention
        assert limit.get("MaxValue", limit["Default"]) < retention
    on_count = _alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert any(
        _refers_to(_dimension(m, "QueueName"), "DeadLetterQueue") for a in on_count.values() for m in _metric_stats(a)
    )


def test_no_alarm_watches_the_age_of_retry_queue_messages() -> None:
    # Each retry hop is a new SQS message, never older than the 900 s delay cap: such an alarm
    # could never fire. retry_age_seconds measures what the old alarm meant to.
    for logical_id, alarm in _alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage").items():
        for metric in _metric_stats(alarm):
            assert not _refers_to(_dimension(metric, "QueueName"), "RetryQueue"), logical_id


def test_the_alarms_read_the_namespace_the_functions_write() -> None:
    environment = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE


# ------------------------------------------------------------------------------ the retry horizon


def test_the_retry_horizon_is_wired_with_its_28_hour_default() -> None:
    environment = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["RELAY_RETRY_HORIZON_S"] == {"Ref": "RetryHorizonSeconds"}
    horizon = parameter("RetryHorizonSeconds")
    assert horizon["Type"] == "Number"
    assert horizon["Default"] == 100800  # 28 h: a 24 h Amplitude outage heals on its own
    assert horizon["MinValue"] <= 24 * 3600 < horizon["Default"] <= horizon["MaxValue"]
    # The attempt cap is optional now: 0 (none) by default, the horizon decides.
    assert environment["RELAY_MAX_ATTEMPTS"] == {"Ref": "MaxAttempts"}
    assert parameter("MaxAttempts")["Default"] == 0
    assert parameter("MaxAttempts")["MinValue"] == 0
    # The local stack (`postback-relay serve`) runs with the same defaults.
    local = load_template(TEMPLATE).environment
    assert local["RELAY_RETRY_HORIZON_S"] == 100800
    assert local["RELAY_MAX_ATTEMPTS"] == 0


# ------------------------------------------------------------------------------ partners: quiet, refused

# What each partner's accepted postbacks are counted as (core.py `received`; the tracker's `installs`).
QUIET_PARTNERS = {
    "AppsFlyer": ("appsflyer", "received"),
    "Adjust": ("adjust", "received"),
    "Branch": ("branch", "received"),
    "Kochava": ("kochava", "received"),
    "Singular": ("singular", "received"),
    "Tenjin": ("tenjin", "received"),
    "Tracker": ("tracker", "installs"),
}
# Every partner-facing route's metrics partner (the custom networks' route counts refusals as "custom").
REFUSING_ROUTES = ("appsflyer", "adjust", "branch", "kochava", "singular", "tenjin", "custom")


def _service() -> str:
    """The `service` dimension Powertools adds to every metric (POWERTOOLS_SERVICE_NAME)."""
    service: str = template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    return service


def _resource(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Resources"][logical_id]
    return found


@pytest.mark.parametrize("prefix", sorted(QUIET_PARTNERS))
def test_a_partner_gone_quiet_for_n_hours_alarms_only_where_switched_on(prefix: str) -> None:
    partner, metric_name = QUIET_PARTNERS[prefix]
    hours = parameter(f"{prefix}QuietAlarmHours")
    # Off by default: a stack that never hears from a partner it does not use must not page.
    assert (hours["Type"], hours["Default"], hours["MinValue"]) == ("Number", 0, 0)
    # CloudWatch evaluates at most 7 days of hourly periods.
    assert hours["MaxValue"] <= 7 * 24
    [(logical_id, alarm)] = [
        (logical_id, alarm)
        for logical_id, alarm in _quiet_alarms().items()
        if alarm.get("MetricName") == metric_name and _dimension(alarm, "partner") == partner
    ]
    condition = _resource(logical_id)["Condition"]
    assert template()["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": f"{prefix}QuietAlarmHours"}, "0"]}]
    }
    assert alarm["Namespace"] == METRICS_NAMESPACE
    # The exact dimension set the functions' EMF documents carry, or the alarm reads an empty series.
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"partner": partner, "service": _service()}
    # Hour by hour, every one of the last N empty: fewer than one accepted postback in each.
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 3600, 1)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": f"{prefix}QuietAlarmHours"}
    # Quiet is an absent metric (nothing is written for a partner that sends nothing).
    assert alarm["TreatMissingData"] == "breaching"


def test_every_quiet_alarm_is_conditional() -> None:
    for logical_id in _quiet_alarms():
        assert "Condition" in _resource(logical_id), f"{logical_id} would page for a partner nobody uses"


@pytest.mark.parametrize("status", [401, 422])
def test_a_burst_of_401s_or_422s_alarms_per_partner_route(status: int) -> None:
    alarms = _alarms_on(METRICS_NAMESPACE, f"rejected_{status}")
    by_partner = {_dimension(alarm, "partner"): (logical_id, alarm) for logical_id, alarm in alarms.items()}
    assert sorted(by_partner) == sorted(REFUSING_ROUTES)
    assert len(alarms) == len(REFUSING_ROUTES)
    threshold = parameter(f"Rejected{status}AlarmThreshold")
    assert threshold["Type"] == "Number"
    assert threshold["MinValue"] >= 1
    for partner, (logical_id, alarm) in by_partner.items():
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"partner": partner, "service": _service()}
        assert alarm["Statistic"] == "Sum"
        assert alarm["Threshold"] == {"Ref": f"Rejected{status}AlarmThreshold"}
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"  # nothing refused writes nothing
        assert "Condition" not in _resource(logical_id)
