"""Least privilege in template.yaml (issue 12): each function's role grants what its code calls and
nothing more; no SAM policy template, no AWS-managed policy, no `Resource: "*"` except where AWS has
no resource-level permissions; the archive bucket and both queues refuse requests without TLS; the
archive is versioned, and its noncurrent versions expire soon.

What the roles must grant is derived from the code where it can be (the boto3 calls of Powertools'
idempotency and parameters, of the tracker's store, of the archive and queues), so a new call
without its permission fails here, not in AWS with an AccessDenied."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postback_relay.archive import SHARED_PARTITION
from postback_relay.config import Settings
from postback_relay.secrets import CUSTOM_NETWORKS
from tests.conftest import ROOT
from tests.unit.template_document import resources, template

PACKAGE = ROOT / "layers" / "relay" / "postback_relay"
ARCHIVE = "${ArchiveBucket.Arn}"

# Actions without resource-level permissions: the only ones a role may allow on "*".
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# What the SAM policy templates used to grant and nothing in the functions calls (issue 12).
# (dynamodb:BatchGetItem was one; the retry consumer now reads the erasure fence with it: below.)
NEVER = {
    "dynamodb:Scan",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "s3:PutObjectAcl",
    "s3:PutLifecycleConfiguration",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListBucket",
    "ssm:DescribeParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameters",
    "logs:CreateLogGroup",
}


# ------------------------------------------------------------------------------ reading the template


def _functions() -> dict[str, dict[str, Any]]:
    return {logical_id: r["Properties"] for logical_id, r in resources("AWS::Serverless::Function").items()}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _get_att_target(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target.split(".")[0] if isinstance(target, str) else target[0])
    return None


def _name(value: Any) -> str:
    """A policy's Resource as one comparable string: `X.Arn`, the Sub string, or `Ref:X`."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target if isinstance(target, str) else ".".join(target))
    if "Fn::Sub" in value:
        return str(value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0])
    if "Ref" in value:
        return f"Ref:{value['Ref']}"
    raise AssertionError(f"unexpected resource {value!r}")


def _branches(value: Any) -> Iterator[Any]:
    """Both branches of an `!If` (the superset a deployment can get), else the value; no AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from _branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for item in _as_list(document["Statement"]) for s in _branches(item)]


def _role_of(function_id: str) -> str:
    role = _get_att_target(_functions()[function_id].get("Role"))
    assert role in resources("AWS::IAM::Role"), f"{function_id}: Role must be !GetAtt <a role of this template>.Arn"
    return role


def _role_documents(role_id: str) -> list[dict[str, Any]]:
    """Every policy document that applies to the role: inline, customer-managed, role policies."""
    properties = resources("AWS::IAM::Role")[role_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    managed = resources("AWS::IAM::ManagedPolicy")
    for arn in properties.get("ManagedPolicyArns", []):
        for ref in _branches(arn):
            assert isinstance(ref, dict), f"{role_id}: {ref!r} is not this template's"
            assert ref.get("Ref") in managed, f"{role_id}: {ref!r} is not this template's"
            documents.append(managed[ref["Ref"]]["Properties"]["PolicyDocument"])
    for policy in resources("AWS::IAM::RolePolicy").values():
        if policy["Properties"]["RoleName"] == {"Ref": role_id}:
            documents.append(policy["Properties"]["PolicyDocument"])
    return documents


def _grants(function_id: str, effect: str = "Allow") -> set[tuple[str, str]]:
    """(action, resource) pairs the function's role allows (or denies)."""
    return {
        (action, _name(resource))
        for document in _role_documents(_role_of(function_id))
        for statement in _statements(document)
        if statement["Effect"] == effect
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


def _identity_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        for logical_id, resource in resources(kind).items():
            for statement in _statements(resource["Properties"]["PolicyDocument"]):
                yield logical_id, statement
    for logical_id, resource in resources("AWS::IAM::Role").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in _statements(policy["PolicyDocument"]):
                yield logical_id, statement


# ------------------------------------------------------------------------------ reading the code


def _calls_on(source: str, receiver: str) -> set[str]:
    """Method names called as `<receiver>.<name>(` in the source."""
    return set(re.findall(rf"{re.escape(receiver)}\.(\w+)\(", source))


def _action(service: str, operation: str) -> str:
    """boto3's snake_case operation as an IAM action: get_item -> dynamodb:GetItem."""
    return f"{service}:{''.join(part.capitalize() for part in operation.split('_'))}"


def _methods(path: Path, class_name: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    return {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}


def _attribute_calls(node: ast.AST, owner: str) -> set[tuple[str, str]]:
    """(attribute, method) for every `self.<attribute>.<method>(...)`, or (owner, method) for
    `self.<method>(...)` when owner is given."""
    found: set[tuple[str, str]] = set()
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            continue
        target = call.func.value
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
            found.add((target.attr, call.func.attr))
        elif owner and isinstance(target, ast.Name) and target.id == "self":
            found.add((owner, call.func.attr))
    return found


# ------------------------------------------------------------------------------ roles, not templates


@pytest.mark.parametrize("function_id", sorted(_functions()))
def test_every_function_has_a_role_of_this_template_and_no_sam_policies(function_id: str) -> None:
    properties = _functions()[function_id]
    # With Policies (SAM policy templates or statements) SAM generates the role itself and attaches
    # AWSLambdaBasicExecutionRole (logs on "*"), and AWSLambdaSQSQueueExecutionRole (SQS on "*")
    # for a queue consumer: an explicit role is the only way to keep those out.
    assert "Policies" not in properties
    role_id = _role_of(function_id)
    role = resources("AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    # One role per function: no function can act with another's permissions.
    others = [other for other in _functions() if other != function_id and _role_of(other) == role_id]
    assert not others


def test_no_function_setting_brings_sam_policies_back() -> None:
    global_function = template()["Globals"]["Function"]
    assert "Policies" not in global_function
    assert "Role" not in global_function


def test_no_role_has_an_aws_managed_policy() -> None:
    for role_id, role in resources("AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            for ref in _branches(arn):
                assert isinstance(ref, dict), f"{role_id}: {ref!r} (an AWS-managed policy?)"
                assert ref.get("Ref") in resources("AWS::IAM::ManagedPolicy"), role_id


def test_resource_star_only_for_actions_without_resource_level_permissions() -> None:
    for logical_id, statement in _identity_statements():
        actions = set(_as_list(statement["Action"]))
        assert not any("*" in action for action in actions), f"{logical_id}: wildcard action {actions}"
        if "*" in _as_list(statement["Resource"]):
            assert statement["Effect"] == "Allow"
            assert actions <= NO_RESOURCE_LEVEL, f"{logical_id}: {actions - NO_RESOURCE_LEVEL} on '*'"


def test_only_the_tracing_policy_allows_anything_on_star_and_only_where_tracing_is_on() -> None:
    on_star = {logical_id for logical_id, s in _identity_statements() if "*" in _as_list(s["Resource"])}
    assert on_star == {"TracingPolicy"}
    assert resources("AWS::IAM::ManagedPolicy")["TracingPolicy"]["Condition"] == "TraceRetry"
    for function_id, properties in _functions().items():
        attached = resources("AWS::IAM::Role")[_role_of(function_id)]["Properties"]["ManagedPolicyArns"]
        (tracing,) = [arn for arn in attached if "Fn::If" in arn and arn["Fn::If"][1] == {"Ref": "TracingPolicy"}]
        # Attached exactly when the function traces (Tracing Active).
        condition = tracing["Fn::If"][0]
        tracing_setting = properties.get("Tracing", template()["Globals"]["Function"]["Tracing"])
        assert tracing_setting == {"Fn::If": [condition, "Active", "PassThrough"]}, function_id


def test_nothing_the_issue_found_is_granted_any_more() -> None:
    for function_id in _functions():
        granted = {action for action, _ in _grants(function_id)}
        assert not granted & NEVER, f"{function_id}: {granted & NEVER}"


# ------------------------------------------------------------------------------ what each function may do

SSM_PARAMETER = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"
SECRET = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"


def _secret(name_parameter: str) -> set[tuple[str, str]]:
    # Secrets Manager adds "-" and six random characters: "-??????", not "-*" (which would also
    # match another secret named "<name>-anything").
    return {
        ("ssm:GetParameter", f"{SSM_PARAMETER}${{{name_parameter}}}"),
        ("secretsmanager:GetSecretValue", f"{SECRET}${{{name_parameter}}}-??????"),
    }


DELIVERY = {
    ("sqs:SendMessage", "RetryQueue.Arn"),
    ("sqs:SendMessage", "DeadLetterQueue.Arn"),
    ("kms:Decrypt", "Ref:SecretsKmsKeyArn"),
    *_secret("AmplitudeApiKeyName"),
}
IDEMPOTENCY = {
    (action, "IdempotencyTable.Arn")
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
}


def _relay_tokens(credential: str) -> set[tuple[str, str]]:
    """One route's own token list, <RelayTokensPrefix><credential>, by its exact name."""
    return {
        ("ssm:GetParameter", f"{SSM_PARAMETER}${{RelayTokensPrefix}}{credential}"),
        ("secretsmanager:GetSecretValue", f"{SECRET}${{RelayTokensPrefix}}{credential}-??????"),
    }


APP_KEYS = {
    ("ssm:GetParameter", f"{SSM_PARAMETER}${{TrackerAppKeyPrefix}}*"),
    ("secretsmanager:GetSecretValue", f"{SECRET}${{TrackerAppKeyPrefix}}*"),
}
TRACING = {(action, "*") for action in NO_RESOURCE_LEVEL}
TRACKER_TABLES = {
    ("dynamodb:GetItem", "AppsTable.Arn"),
    ("dynamodb:PutItem", "ClicksTable.Arn"),
    ("dynamodb:Query", "ClicksTable.Arn"),
    ("dynamodb:PutItem", "InstallsTable.Arn"),
    ("dynamodb:GetItem", "InstallsTable.Arn"),
}
CONSUME_RETRY_QUEUE = {
    (action, "RetryQueue.Arn") for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
}
# The erasure fence's marks, in the idempotency table (fence.py): read, never written, by the consumer.
READ_ERASURE_FENCE = {("dynamodb:BatchGetItem", "IdempotencyTable.Arn")}


def _logs(function_id: str) -> set[tuple[str, str]]:
    return {(action, f"{function_id}LogGroup.Arn") for action in ("logs:CreateLogStream", "logs:PutLogEvents")}


def _archive(stream_id: str) -> set[tuple[str, str]]:
    """Records into the function's own delivery stream: Firehose writes the bucket, no function does."""
    return {("firehose:PutRecord", f"{stream_id}.Arn")}


def _partners() -> dict[str, str]:
    """Built-in partner functions by logical id -> the partner name their adapter archives under."""
    import importlib

    partners: dict[str, str] = {}
    for function_id, properties in _functions().items():
        folder = Path(properties["CodeUri"]).name
        if (PACKAGE / "partners" / f"{folder}.py").is_file():
            adapter = getattr(importlib.import_module(f"postback_relay.partners.{folder}"), "ADAPTER", None)
            if adapter is not None:  # partners/custom.py is the mapping files' engine, not a partner
                partners[function_id] = adapter.name
    return partners


def _expected() -> dict[str, set[tuple[str, str]]]:
    partner_common = DELIVERY | IDEMPOTENCY | TRACING
    expected = {
        function_id: partner_common
        | _relay_tokens(name)
        | _logs(function_id)
        | _archive(function_id.replace("Function", "ArchiveStream"))
        for function_id, name in _partners().items()
    }
    expected["CustomNetworkFunction"] = (
        partner_common
        | _relay_tokens(CUSTOM_NETWORKS)
        | _logs("CustomNetworkFunction")
        | _archive("CustomNetworkArchiveStream")
    )
    expected["TrackerFunction"] = (
        DELIVERY | APP_KEYS | TRACING | TRACKER_TABLES | _logs("TrackerFunction") | _archive("TrackerArchiveStream")
    )
    expected["RetryFunction"] = (
        DELIVERY | IDEMPOTENCY | APP_KEYS | TRACING | CONSUME_RETRY_QUEUE | READ_ERASURE_FENCE | _logs("RetryFunction")
    )
    return expected


def test_the_six_partners_each_have_a_function() -> None:
    assert sorted(_partners().values()) == ["adjust", "appsflyer", "branch", "kochava", "singular", "tenjin"]
    assert set(_expected()) == set(_functions())


@pytest.mark.parametrize("function_id", sorted(_functions()))
def test_each_function_is_allowed_exactly_what_it_uses(function_id: str) -> None:
    granted = _grants(function_id)
    expected = _expected()[function_id]
    assert granted - expected == set(), f"{function_id} is allowed more than it uses"
    assert expected - granted == set(), f"{function_id} lacks a permission its code needs"


def _stream_partition(stream_id: str) -> str:
    """The partition a delivery stream writes: raw/partner=<this>/date=<day>/."""
    stream = resources("AWS::KinesisFirehose::DeliveryStream")[stream_id]
    prefix = str(stream["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"])
    assert prefix.endswith("/date=!{timestamp:yyyy-MM-dd}/"), prefix
    return prefix.removeprefix(f"{Settings.model_fields['archive_prefix'].default}/partner=").split("/")[0]


def test_no_function_writes_the_archive_bucket_and_each_stream_is_its_partition() -> None:
    """Issue 16: Firehose writes the archive; a function puts records into its own stream, whose
    prefix is the partition its postbacks are read back from (replay, forget, the Glue table)."""
    for function_id in _functions():
        assert not [grant for grant in _grants(function_id) if grant[0].startswith("s3:")], function_id
    for function_id, name in _partners().items():
        stream_id = function_id.replace("Function", "ArchiveStream")
        variables = _functions()[function_id]["Environment"]["Variables"]
        assert variables["RELAY_ARCHIVE_STREAM"] == {"Ref": stream_id}
        assert _stream_partition(stream_id) == name
    assert _stream_partition("CustomNetworkArchiveStream") == SHARED_PARTITION
    assert _stream_partition("TrackerArchiveStream") == "tracker-clicks"


def test_each_partner_function_reads_its_own_relay_tokens_and_no_other_partners() -> None:
    """Issue 12: one token list opened every route; now each route has its own, and each function
    may read its own alone (the tracker and the retry consumer none)."""
    credentials = {**_partners(), "CustomNetworkFunction": CUSTOM_NETWORKS}
    for function_id in _functions():
        read = {credential for credential in credentials.values() if _grants(function_id) & _relay_tokens(credential)}
        assert read == ({credentials[function_id]} if function_id in credentials else set()), function_id
    # The code reads the names the roles grant: <RELAY_TOKENS_PREFIX> + the adapter's name, or "custom".
    environment = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["RELAY_TOKENS_PREFIX"] == {"Ref": "RelayTokensPrefix"}
    assert environment["RELAY_TOKENS"] == ""  # the plain value is for `sam local` only
    assert "RELAY_TOKEN_PARAMETER" not in environment
    assert "RELAY_TOKEN" not in environment


def test_the_token_prefix_ends_in_a_separator() -> None:
    prefix = template()["Parameters"]["RelayTokensPrefix"]
    pattern = re.compile(prefix["AllowedPattern"])
    assert prefix["Default"] == "postback-relay/partner-tokens/"
    assert pattern.fullmatch(prefix["Default"])
    assert pattern.fullmatch("relay-tokens-")
    # "postback-relay/tokens" + "adjust" would read postback-relay/tokensadjust.
    for wrong in ("postback-relay/partner-tokens", "/postback-relay/tokens/", "tokens*/", ""):
        assert not pattern.fullmatch(wrong), wrong


def test_app_keys_are_readable_only_under_the_configured_prefix() -> None:
    policy = resources("AWS::IAM::ManagedPolicy")["TrackerAppKeysPolicy"]
    assert policy["Condition"] == "HasTrackerAppKeyPrefix"
    prefix = template()["Parameters"]["TrackerAppKeyPrefix"]
    assert prefix["Default"] == ""
    pattern = re.compile(prefix["AllowedPattern"])
    assert pattern.fullmatch("postback-relay/apps/")
    # Ending in "/": a prefix "apps" would also grant "apps-of-someone-else".
    for wrong in ("postback-relay/apps", "/postback-relay/apps/", "*", "a*/"):
        assert not pattern.fullmatch(wrong), wrong


def test_kms_decrypt_only_with_the_named_key_and_only_through_the_secret_store() -> None:
    (statement,) = [
        s
        for s in _statements(resources("AWS::IAM::ManagedPolicy")["DeliveryPolicy"]["Properties"]["PolicyDocument"])
        if "kms:Decrypt" in _as_list(s["Action"])
    ]
    assert statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
    via = statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::If"]
    assert via[0] == "UseSsm"
    assert via[1:] == [
        {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
        {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
    ]


# ------------------------------------------------------------------------------ ... derived from the code


def test_the_idempotency_policy_is_what_powertools_calls() -> None:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    operations = _calls_on(inspect.getsource(DynamoDBPersistenceLayer), "self.client")
    assert operations == {"get_item", "put_item", "update_item", "delete_item"}
    assert {(_action("dynamodb", op), "IdempotencyTable.Arn") for op in operations} == IDEMPOTENCY


def test_reading_a_secret_is_one_get_and_no_describe() -> None:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    # The relay calls provider.get(name): BaseProvider.get -> _get.
    assert _calls_on(inspect.getsource(SSMProvider._get), "self.client") == {"get_parameter"}
    assert _calls_on(inspect.getsource(SecretsProvider._get), "self.client") == {"get_secret_value"}
    secrets_source = (PACKAGE / "secrets.py").read_text()
    assert "provider.get(" in secrets_source
    assert "get_multiple" not in secrets_source  # GetParametersByPath: not granted


def test_only_the_retry_consumer_reads_the_erasure_fence_and_with_one_batch_get() -> None:
    from postback_relay.fence import ErasureFence

    # What the consumer calls (erased -> marks); `mark` is forget's, with the operator's credentials.
    assert _calls_on(inspect.getsource(ErasureFence.marks), "self.dynamodb") == {"batch_get_item"}
    assert _calls_on(inspect.getsource(ErasureFence.erased), "self.dynamodb") == set()
    assert "ErasureFence" in (PACKAGE / "retry.py").read_text()
    batch_gets = {
        function_id
        for function_id in _functions()
        if any(a == "dynamodb:BatchGetItem" for a, _ in _grants(function_id))
    }
    assert batch_gets == {"RetryFunction"}
    assert {grant for grant in _grants("RetryFunction") if grant[0] == "dynamodb:BatchGetItem"} == READ_ERASURE_FENCE


def test_the_functions_send_to_the_queues_and_put_to_the_archive_only() -> None:
    from postback_relay.archive import FirehoseArchive
    from postback_relay.queues import Queue

    # Sends are the functions'; receive/delete/visibility/depth are the operators' commands.
    assert _calls_on(inspect.getsource(Queue.send_body), "sqs_client()") == {"send_message"}
    assert _calls_on(inspect.getsource(FirehoseArchive.put), "firehose_client()") == {"put_record"}


def test_the_tracker_role_is_what_its_requests_call_on_its_tables() -> None:
    store = _methods(PACKAGE / "tracker" / "store.py", "TrackerStore")
    tables = {"apps": "AppsTable", "clicks": "ClicksTable", "installs": "InstallsTable"}
    # The store methods a request reaches (the service's calls); the rest (registering and listing
    # apps) are the operators' `postback-relay apps` commands, with their own credentials.
    service = ast.parse((PACKAGE / "tracker" / "service.py").read_text())
    reached = {method for attribute, method in _attribute_calls(service, "") if attribute == "store"}
    assert reached, "the tracker service calls no store method?"
    operations: set[tuple[str, str]] = set()
    pending = sorted(reached)
    while pending:
        method = pending.pop()
        for attribute, call in _attribute_calls(store[method], "store"):
            if attribute == "store" and call in store:
                pending.append(call)  # a helper of the store (self._query)
            elif attribute in tables:
                operations.add((_action("dynamodb", call), f"{tables[attribute]}.Arn"))
    granted = {(a, r) for a, r in _grants("TrackerFunction") if a.startswith("dynamodb:")}
    assert granted == operations == TRACKER_TABLES


def test_the_archive_partitions_are_the_ones_the_code_writes() -> None:
    # The tracker archives its clicks under one partition, its stream's.
    service = ast.parse((PACKAGE / "tracker" / "service.py").read_text())
    partitions = {
        node.args[0].value
        for node in ast.walk(service)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "ArchivedPostback"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert partitions == {_stream_partition("TrackerArchiveStream")}
    # The SQL table's partitions are the streams'.
    table = resources("AWS::Glue::Table")["ArchiveTable"]["Properties"]["TableInput"]["Parameters"]
    streams = resources("AWS::KinesisFirehose::DeliveryStream")
    assert set(table["projection.partner.values"].split(",")) == {_stream_partition(s) for s in streams}


# ------------------------------------------------------------------------------ TLS only, versioning


def _tls_only(statements: list[dict[str, Any]], action: str, resources: set[str]) -> bool:
    return any(
        s["Effect"] == "Deny"
        and s["Principal"] == "*"
        and s["Action"] == action
        and {_name(r) for r in _as_list(s["Resource"])} == resources
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_the_archive_bucket_refuses_requests_without_tls() -> None:
    (policy,) = [
        p["Properties"]
        for p in resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": "ArchiveBucket"}
    ]
    assert _tls_only(_statements(policy["PolicyDocument"]), "s3:*", {"ArchiveBucket.Arn", f"{ARCHIVE}/*"})


@pytest.mark.parametrize("queue_id", ["RetryQueue", "DeadLetterQueue"])
def test_each_queue_refuses_requests_without_tls(queue_id: str) -> None:
    policies = [
        p["Properties"]
        for p in resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    assert policies, f"no queue policy on {queue_id}"
    assert any(_tls_only(_statements(p["PolicyDocument"]), "sqs:*", {f"{queue_id}.Arn"}) for p in policies)


@pytest.mark.parametrize("queue_id", ["RetryQueue", "DeadLetterQueue"])
def test_the_queues_need_no_customer_key(queue_id: str) -> None:
    # SQS-managed encryption: the functions' sends need no kms: grant. (A customer key here would.)
    properties = resources("AWS::SQS::Queue")[queue_id]["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in properties


def test_the_archive_is_versioned_and_noncurrent_versions_expire_soon() -> None:
    bucket = resources("AWS::S3::Bucket")["ArchiveBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    by_prefix = {rule["Prefix"]: rule for rule in rules if "Prefix" in rule}
    # The archive and the dead-letter exports expire; the erasure records never do (docs/privacy.md).
    for prefix in ("raw/", "dead-letters/"):
        assert by_prefix[prefix]["ExpirationInDays"] == {"Ref": "ArchiveRetentionDays"}, prefix
    assert by_prefix["raw/"]["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert "ExpirationInDays" not in by_prefix["erasures/"]
    assert [rule["Id"] for rule in rules if "ExpirationInDays" in rule] == [
        "ArchiveRetention",
        "DeadLetterExportRetention",
    ]
    # Every prefix the code writes has its rule, and an overwritten or erased version under any of
    # them is gone for good ArchiveNoncurrentVersionDays later.
    from postback_relay_tools import erasures
    from postback_relay_tools.dlq_export import DEFAULT_PREFIX

    written = {Settings.model_fields["archive_prefix"].default, DEFAULT_PREFIX, erasures.PREFIX}
    assert {prefix.rstrip("/") for prefix in by_prefix} == written
    for prefix, rule in by_prefix.items():
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "ArchiveNoncurrentVersionDays"}}, (
            prefix
        )
    noncurrent = template()["Parameters"]["ArchiveNoncurrentVersionDays"]
    assert noncurrent["Type"] == "Number"
    assert 1 <= noncurrent["MinValue"] <= noncurrent["Default"] <= 7
    assert noncurrent["MaxValue"] <= 365
    # Expiring a current object in a versioned bucket leaves a delete marker: removed once alone.
    assert any(rule.get("ExpiredObjectDeleteMarker") is True for rule in rules)
