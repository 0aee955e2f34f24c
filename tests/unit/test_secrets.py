"""In AWS the Amplitude key and each partner's relay tokens come from SSM Parameter Store or Secrets Manager."""

from __future__ import annotations

import boto3
import pytest

from postback_relay.config import ConfigurationError
from postback_relay.runtime import reset_runtime
from postback_relay.secrets import amplitude_api_key, partner_tokens

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick


@pytest.fixture
def stored(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AMPLITUDE_API_KEY", "RELAY_TOKENS", "RELAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    boto3.client("ssm").put_parameter(Name="/relay/amplitude-key", Value="ssm-key", Type="SecureString")
    boto3.client("ssm").put_parameter(
        Name="/relay/partner-tokens/adjust", Value="new-adjust-token-2, old-adjust-token-1\n", Type="SecureString"
    )
    boto3.client("secretsmanager").create_secret(Name="relay/amplitude-key", SecretString="secret-key")
    reset_runtime()


def test_ssm_parameters_named_without_leading_slash(stored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY_PARAMETER", "relay/amplitude-key")
    monkeypatch.setenv("RELAY_TOKENS_PREFIX", "relay/partner-tokens/")
    reset_runtime()
    assert amplitude_api_key() == "ssm-key"
    # Both valid while one is rotated out.
    assert partner_tokens("adjust") == ("new-adjust-token-2", "old-adjust-token-1")


def test_secrets_manager(stored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_SECRET_STORE", "secretsmanager")
    monkeypatch.setenv("AMPLITUDE_API_KEY_PARAMETER", "relay/amplitude-key")
    reset_runtime()
    assert amplitude_api_key() == "secret-key"


def test_missing_configuration_names_the_variable(stored: None) -> None:
    with pytest.raises(ConfigurationError, match="AMPLITUDE_API_KEY_PARAMETER"):
        amplitude_api_key()
    with pytest.raises(ConfigurationError, match="RELAY_TOKENS_PREFIX"):
        partner_tokens("adjust")
