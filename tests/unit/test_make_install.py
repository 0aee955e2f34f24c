"""`make run` installs only the `local` extra, `make test` the `dev` one; the stamps in the venv decide
what a target still needs: `make test` after `make run` widens the venv, `make run` after `make test`
leaves it alone. Read from `make -n` (what make would run), against a venv of stamps only."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def planned(venv: Path, target: str) -> str:
    done = subprocess.run(  # noqa: S603 - make, with our Makefile
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def stamp(venv: Path, *names: str) -> None:
    """Stamps newer than pyproject.toml, as a finished install leaves them."""
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    later = max(time.time(), (ROOT / "pyproject.toml").stat().st_mtime) + 60
    for name in names:
        path = venv / "bin" / name
        path.touch()
        os.utime(path, (later, later))


def test_a_fresh_run_installs_the_local_extra_only(tmp_path: Path) -> None:
    plan = planned(tmp_path / "venv", "install-local")
    assert "-e '.[local]'" in plan
    assert ".[dev]" not in plan


def test_run_after_run_installs_nothing(tmp_path: Path) -> None:
    stamp(tmp_path, ".installed-local")
    assert "pip install" not in planned(tmp_path, "install-local")


def test_test_after_run_installs_the_dev_extra(tmp_path: Path) -> None:
    stamp(tmp_path, ".installed-local")
    assert "-e '.[dev]'" in planned(tmp_path, "install")


def test_run_after_test_keeps_the_dev_environment(tmp_path: Path) -> None:
    stamp(tmp_path, ".installed-dev", ".installed-local")
    assert "pip install" not in planned(tmp_path, "install-local")
    assert "pip install" not in planned(tmp_path, "install")


def test_run_after_a_pyproject_change_does_not_narrow_a_current_dev_install(tmp_path: Path) -> None:
    # The local stamp is missing (or stale) but the dev stamp is current: the dev install already
    # covers `local`. Run for real, with an interpreter that fails if anything tries to install.
    stamp(tmp_path, ".installed-dev")
    done = subprocess.run(  # noqa: S603
        ["make", "-C", str(ROOT), "install-local", f"VENV={tmp_path}", "PYTHON=false"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bin" / ".installed-local").exists()


def test_make_run_and_make_test_use_their_own_installs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun: install-local\n" in makefile
    assert "\ntest: install " in makefile
