"""The Lambda layer installs what the package declares: pyproject's dependencies and the layer's
requirements.txt name the same distributions with the same bounds."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_layer_requirements_match_the_package_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [line.strip() for line in (ROOT / "layers/relay/requirements.txt").read_text().splitlines() if line.strip()]
    assert sorted(layer) == sorted(declared)


def test_every_function_folder_is_in_the_template() -> None:
    template = (ROOT / "template.yaml").read_text()
    for folder in sorted((ROOT / "functions").iterdir()):
        assert f"CodeUri: functions/{folder.name}/" in template, folder.name
        assert (folder / "app.py").exists()
