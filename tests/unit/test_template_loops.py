"""template.yaml's Fn::ForEach loops as `serve` and the template tests read them: every function gets
its log group and its logs policy, every coded partner its role, each under the names the rest of
the template (and a deployed stack) already uses, and nothing of a loop is left unexpanded."""

from __future__ import annotations

import json

from postback_relay.partners.registry import coded_partners
from tests.unit.template_document import resources, template

FUNCTIONS = sorted(resources("AWS::Serverless::Function"))


def test_no_loop_or_loop_name_is_left_in_the_expanded_template() -> None:
    text = json.dumps(template())
    assert "Fn::ForEach" not in text
    assert "${Partner}" not in text
    assert "${Function}" not in text


def test_every_function_has_its_own_log_group_and_logs_policy() -> None:
    log_groups = resources("AWS::Logs::LogGroup")
    policies = resources("AWS::IAM::RolePolicy")
    assert len(FUNCTIONS) == 9
    for function in FUNCTIONS:
        group = log_groups[f"{function}LogGroup"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
        policy = policies[f"{function}LogsPolicy"]["Properties"]
        assert policy["RoleName"] == {"Ref": f"{function}Role"}
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Resource"] == {"Fn::GetAtt": [f"{function}LogGroup", "Arn"]}


def test_each_coded_partners_role_names_its_own_route() -> None:
    roles = resources("AWS::IAM::Role")
    for partner in coded_partners():
        [role_id] = [
            name
            for name in roles
            if name.endswith("FunctionRole") and name.removesuffix("FunctionRole").lower() == partner
        ]
        statements = json.dumps(roles[role_id]["Properties"]["Policies"])
        assert f"${{RelayTokensPrefix}}{partner}" in statements
        stream = role_id.replace("FunctionRole", "ArchiveStream")
        assert f'"{stream}", "Arn"' in statements or f'"{stream}.Arn"' in statements, statements
        others = {name for name in roles if name.endswith("FunctionRole")} - {role_id}
        assert not any(other.replace("FunctionRole", "ArchiveStream") in statements for other in others)
