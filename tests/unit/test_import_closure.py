"""What each Lambda function can load: the static import closure of its handler (lazy imports inside
functions included) never reaches the tools (CLI, local stack, emulator, operators' commands), and
every module of the package is either runtime (some function reaches it) or a tool, on purpose.

Today both kinds ship in the one layer (issue 14 splits them into two packages); this keeps the
runtime from coming to depend on the tools meanwhile, and names the modules the split will move.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE_ROOT = ROOT / "layers" / "relay"
PACKAGE = "postback_relay"
# Modules no Lambda function may load: they run on an operator's or a developer's machine.
TOOLS = frozenset(
    {
        "cli",
        "cli_amplitude",
        "compare",
        "dashboard",
        "dlq_export",
        "dlq_select",
        "emulator",
        "erasures",
        "forget",
        "local",
        "openapi",
        "report",
        "report_html",
        "verify",
    }
)


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


def is_tool(module: str) -> bool:
    parts = module.split(".")
    return len(parts) > 1 and parts[1] in TOOLS


HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))


@pytest.mark.parametrize("handler", HANDLERS, ids=[path.parent.name for path in HANDLERS])
def test_no_function_loads_a_tool(handler: Path) -> None:
    reached = closure(handler)
    assert f"{PACKAGE}.api" in reached or f"{PACKAGE}.retry" in reached or f"{PACKAGE}.tracker.api" in reached
    assert sorted(module for module in reached if is_tool(module)) == []


def test_every_module_is_runtime_or_a_tool() -> None:
    runtime = set().union(*(closure(handler) for handler in HANDLERS))
    unclassified = sorted(
        module for module in package_modules() if module != PACKAGE and module not in runtime and not is_tool(module)
    )
    assert unclassified == [], "reached by no function: add it to TOOLS, or import it from the runtime"


def test_the_closure_follows_lazy_and_relative_imports() -> None:
    # The custom networks' function loads partners.custom inside a function (api.custom_network_handler),
    # the runtime module loads the tracker's store inside one; delivery imports the client relatively.
    assert f"{PACKAGE}.partners.custom" in closure(ROOT / "functions" / "custom" / "app.py")
    assert f"{PACKAGE}.tracker.store" in closure(ROOT / "functions" / "tracker" / "app.py")
    assert {f"{PACKAGE}.fence", f"{PACKAGE}.delivery", f"{PACKAGE}.amplitude.client"} <= closure(
        ROOT / "functions" / "retry" / "app.py"
    )
