"""Every stack output the README or docs/ name exists in template.yaml, and the custom domain is
what docs/deploy.md says: a reader copying an output's name from the docs finds it in the console."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.unit.template_document import parameter, resources, template

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Names shaped like an output or a parameter (CamelCase ending in Url, Name, Target, HostedZoneId;
# not after a ':' or '::', where they are an IAM action or a resource type's property).
OUTPUT_SHAPE = re.compile(r"(?<![:A-Za-z])[A-Z][a-z]+[A-Za-z0-9]*(?:Url|Name|Target|HostedZoneId)\b")
# Words of that shape that are neither, with why.
NOT_OUTPUTS = {
    "AlarmName": "CloudWatch's own field of an alarm",
    "RelayTokenName": "the parameter the shared token list had, named in the upgrade notes",
    "QueueName": "SQS's attribute, in the dashboard's metrics",
    "DomainName": "the CloudFormation resource type AWS::ApiGatewayV2::DomainName",
}


def test_every_output_the_docs_name_is_in_the_template() -> None:
    outputs, parameters = set(template()["Outputs"]), set(template()["Parameters"])
    missing = {
        f"{document.relative_to(ROOT)}: {name}"
        for document in DOCUMENTS
        for name in OUTPUT_SHAPE.findall(document.read_text())
        if name not in outputs | parameters | set(NOT_OUTPUTS)
    }
    assert not missing, f"named in the docs, but no output or parameter of template.yaml: {sorted(missing)}"


def test_the_docs_name_the_outputs_a_deployer_needs() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    for name in ("HttpApiUrl", "PostbackBaseUrl", "CustomDomainUrl", "CustomDomainTarget", "CustomDomainHostedZoneId"):
        assert name in template()["Outputs"]
        assert f"`{name}`" in deploy, f"docs/deploy.md does not say what {name} is for"


def test_the_custom_domain_is_regional_tls_1_2_and_only_when_named() -> None:
    assert parameter("CustomDomainName")["Default"] == ""
    assert parameter("CustomDomainCertificateArn")["Default"] == ""
    [(domain_id, domain)] = resources("AWS::ApiGatewayV2::DomainName").items()
    [mapping] = resources("AWS::ApiGatewayV2::ApiMapping").values()
    assert domain["Condition"] == mapping["Condition"] == "HasCustomDomain"
    [configuration] = domain["Properties"]["DomainNameConfigurations"]
    assert configuration["EndpointType"] == "REGIONAL"
    assert configuration["SecurityPolicy"] == "TLS_1_2"
    assert mapping["Properties"]["DomainName"] == {"Ref": domain_id}
    assert mapping["Properties"]["ApiId"] == {"Ref": "RelayHttpApi"}
    assert mapping["Properties"]["Stage"] == "$default"
    for output in ("CustomDomainUrl", "CustomDomainTarget", "CustomDomainHostedZoneId"):
        assert template()["Outputs"][output]["Condition"] == "HasCustomDomain"
    # Named without a certificate: refused before anything is created, in words that say why.
    [assertion] = template()["Rules"]["CustomDomainNeedsCertificate"]["Assertions"]
    assert "CustomDomainCertificateArn" in assertion["AssertDescription"]
