"""Every CLI failure is one line on stderr naming the problem and the fix; no traceback reaches a user.

Exit 1 for a failure, 2 for a usage or configuration error (as argparse does), quiet on a closed pipe."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postback_relay_tools.cli import build_parser, main
from tests.conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow  # a local stack, servers or many moto calls: not in make test-quick

APPSFLYER_INSTALL = str(FIXTURES / "appsflyer" / "install_ios.json")
ADJUST_INSTALL = str(FIXTURES / "adjust" / "install_ios.json")


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert line.startswith("error: ")
    return line


@pytest.fixture
def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "postback.json"
    path.write_text("")
    return path


@pytest.mark.parametrize(
    ("arguments", "status", "fragments"),
    [
        (
            ["try", "adjust", APPSFLYER_INSTALL],
            1,
            ["looks like an AppsFlyer postback (", "not Adjust", f"postback-relay try appsflyer {APPSFLYER_INSTALL}"],
        ),
        (
            ["try", "appsflyer", ADJUST_INSTALL],
            1,
            ["looks like an Adjust postback (activity_kind", f"postback-relay try adjust {ADJUST_INSTALL}"],
        ),
        (["try", "custom/liftoff", APPSFLYER_INSTALL], 1, ["not Liftoff", "postback-relay try appsflyer"]),
        (
            ["try", "appsflyer", "/no/such/postback.json"],
            2,
            ["cannot read /no/such/postback.json: No such file", "callback URL"],
        ),
        (["try", "liftoff", APPSFLYER_INSTALL], 2, ["unknown partner 'liftoff' (did you mean custom/liftoff?)"]),
        (["try", "nobody", APPSFLYER_INSTALL], 2, ["unknown partner 'nobody'; known: adjust, appsflyer"]),
        (
            ["verify", "--idfa", "6D92078A-8246-4BA4-AE5B-76104861E7DC"],
            2,
            ["cannot look up an advertising id", "--device", "--user"],
        ),
    ],
)
def test_a_failure_is_one_line_naming_the_fix(
    capsys: pytest.CaptureFixture[str], arguments: list[str], status: int, fragments: list[str]
) -> None:
    assert main(arguments) == status
    line = one_line(capsys)
    for fragment in fragments:
        assert fragment in line
    assert "6D92078A" not in line  # an advertising id is never echoed


def test_a_wrong_partner_callback_url_is_not_echoed_with_its_token(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://relay.example/v1/postbacks/adjust?token=s3cret&activity_kind=install&gps_adid=38400000-8cf0-11bd-b23e-10b96e40000d"
    assert main(["try", "appsflyer", url]) == 1
    line = one_line(capsys)
    assert "postback-relay try adjust '<the callback URL>'" in line
    assert "s3cret" not in line


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "is empty"), ("  \n", "is empty"), ('{"idfa": ', "is not JSON (Expecting value at line 1 column 10)")],
)
def test_try_on_a_file_that_is_not_a_postback_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "postback.json"
    path.write_text(content)
    assert main(["try", "appsflyer", str(path)]) == 1
    assert one_line(capsys) == (
        f"error: {path} {problem}: put the postback's JSON in it, or pass the filled-in callback URL instead"
    )


@pytest.mark.parametrize("name", ["AppsFlyer", "APPSFLYER", " appsflyer "])
def test_partner_names_are_case_insensitive(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert main(["try", name, APPSFLYER_INSTALL]) == 0
    assert json.loads(capsys.readouterr().out)[0]["form"]["event"]["event_type"] == "[AppsFlyer] Install"


def test_custom_network_names_are_case_insensitive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "Custom/Liftoff", str(FIXTURES / "liftoff" / "install_android.json")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["url"].endswith("/attribution")


def test_forget_takes_partner_names_in_any_case_and_refuses_unknown_ones(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["forget", "--user", "u", "--partner", "AppsFlyer", "--partner", "CUSTOM/Unity-Ads"])
    assert args.partner == ["appsflyer", "custom/unity-ads"]
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["forget", "--user", "u", "--partner", "apsflyer"])
    assert exit_.value.code == 2
    assert "unknown partner 'apsflyer'" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_with_its_type_never_its_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import postback_relay_tools.openapi as openapi

    def explode() -> str:
        raise RuntimeError("cannot render user-42 with idfa 6D92078A-8246-4BA4-AE5B-76104861E7DC")

    monkeypatch.setattr(openapi, "spec_json", explode)
    monkeypatch.delenv("POSTBACK_RELAY_TRACEBACK", raising=False)
    assert main(["openapi"]) == 1
    line = one_line(capsys)
    assert "unexpected RuntimeError in `postback-relay openapi`" in line
    assert "report it" in line
    assert "user-42" not in line
    assert "6D92078A" not in line


def test_replay_from_a_bucket_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "RELAY_DLQ_URL", "RELAY_ARCHIVE_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        code = main(
            [
                "replay",
                "--from",
                "s3://nonexistent/raw",
                "--partner",
                "AppsFlyer",
                "--since",
                "2026-11-20",
                "--state-file",
                str(tmp_path / "none.json"),
            ]
        )
    assert code == 2
    line = one_line(capsys)
    assert "(NoSuchBucket): bucket 'nonexistent' does not exist" in line
    assert "ArchiveBucketName" in line


def test_verify_against_a_dashboard_that_is_not_there(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/2"
    assert main(["verify", "--user", "user-42", "--dashboard-url", url, "--api-key", "k", "--secret-key", "s"]) == 1
    line = one_line(capsys)
    assert f"cannot reach {url}/usersearch (ConnectionError)" in line
    assert "user-42" not in line


@pytest.fixture
def free_pair() -> Iterator[int]:
    """A port whose next one is free too (serve puts the local Amplitude one port above the relay)."""
    for _ in range(20):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        yield port
        return
    pytest.skip("no two consecutive free loopback ports")


@pytest.mark.parametrize(
    ("taken", "message"),
    [(0, "port {port} on 127.0.0.1 is in use"), (1, "the local Amplitude's port {amplitude} on 127.0.0.1 is in use")],
)
def test_serve_on_a_port_in_use(capsys: pytest.CaptureFixture[str], free_pair: int, taken: int, message: str) -> None:
    port = free_pair
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + taken))
        holder.listen()
        code = main(["serve", "--port", str(port), "--template", str(ROOT / "template.yaml")])
    assert code == 1
    line = one_line(capsys)
    assert message.format(port=port, amplitude=port + 1) in line
    assert "pass --port N" in line


def test_try_into_a_closed_pipe_exits_quietly() -> None:
    """`postback-relay try ... | head`: the reader is gone before the output is written."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "postback_relay_tools.cli", "try", "appsflyer", APPSFLYER_INSTALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()  # before the CLI has even imported its modules
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141  # 128 + SIGPIPE, as Unix tools end
    assert stderr == ""


def test_the_amplitude_emulator_on_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        assert main(["amplitude-emulator", "--port", str(holder.getsockname()[1])]) == 1
    assert one_line(capsys) == "error: the port is in use (another server on it?): stop it, or pass --port N"
