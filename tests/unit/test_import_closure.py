"""What each Lambda function can load, and what the layer ships: the static import closure of every
handler (lazy imports inside functions and relative imports included) covers every module of the
runtime package, `postback_relay` (layers/relay/, the layer), so the layer ships nothing no function
can load; and no runtime module imports the tools package, `postback_relay_tools` (tools/: the CLI,
the local stack, the emulator, the operators' commands), which never ships.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE_ROOT = ROOT / "layers" / "relay"
PACKAGE = "postback_relay"
TOOLS_PACKAGE = "postback_relay_tools"


def module_file(name: str) -> Path | None:
    base = PACKAGE_ROOT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def package_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((PACKAGE_ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


@cache
def imported_by(path: Path, module: str) -> frozenset[str]:
    """The package's modules `path` imports anywhere in its body, with their parent packages."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # `from .x import y`: y may be a module of its own.
            named.update({source, *(f"{source}.{alias.name}" for alias in node.names)})
    found = {name for name in named if name.split(".")[0] == PACKAGE and module_file(name)}
    for name in list(found):
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(found)


def closure(handler_file: Path) -> set[str]:
    seen: set[str] = set()
    waiting = list(imported_by(handler_file, "app"))
    while waiting:
        name = waiting.pop()
        if name not in seen:
            seen.add(name)
            path = module_file(name)
            if path is not None:
                waiting.extend(imported_by(path, name) - seen)
    return seen


HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))


# Each function's entry module (the partner functions' is postback_relay.api).
ENTRY_POINTS = {"retry": "retry", "tracker": "tracker.api"}


@pytest.mark.parametrize("handler", HANDLERS, ids=[path.parent.name for path in HANDLERS])
def test_each_function_reaches_its_entry_point(handler: Path) -> None:
    reached = closure(handler)
    assert f"{PACKAGE}.{ENTRY_POINTS.get(handler.parent.name, 'api')}" in reached


def test_the_layer_ships_only_what_some_function_loads() -> None:
    runtime = set().union(*(closure(handler) for handler in HANDLERS))
    unreached = sorted(module for module in package_modules() if module != PACKAGE and module not in runtime)
    assert unreached == [], "no function loads these: move them to tools/postback_relay_tools (or import them)"


def test_no_runtime_module_imports_the_tools() -> None:
    importing = []
    for module, path in package_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            importing += [module for name in names if name.split(".")[0] == TOOLS_PACKAGE]
    assert importing == []


def test_the_closure_follows_lazy_and_relative_imports() -> None:
    # The custom networks' function loads partners.custom inside a function (api.custom_network_handler),
    # the runtime module loads the tracker's store inside one; delivery imports the client relatively.
    assert f"{PACKAGE}.partners.custom" in closure(ROOT / "functions" / "custom" / "app.py")
    assert f"{PACKAGE}.tracker.store" in closure(ROOT / "functions" / "tracker" / "app.py")
    assert {f"{PACKAGE}.fence", f"{PACKAGE}.delivery", f"{PACKAGE}.amplitude.client"} <= closure(
        ROOT / "functions" / "retry" / "app.py"
    )
