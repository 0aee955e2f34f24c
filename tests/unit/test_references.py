"""The repository stands on its own: what its text cites, a reader of the repository can follow.

Comments, docstrings, docs/, the README, template.yaml and tests cite public pages or docs/ of ours,
never the product's private source documents (numbered source files and a shared notes folder that
are not in the repository), and every docs/ path and #anchor they name exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt"}
TEXT_NAMES = {"Makefile"}

# Built from pieces so that this file does not cite what it forbids.
_SEED, _REF, _SECTION = "se" + "ed", "ref" + "erence", "\u00a7"
_SHARED, _LIMITS = "/work/" + "shared", "limits-and-" + "native-integrations"
PRIVATE_CITATIONS = {
    "a numbered source document": re.compile(rf"\b{_SEED}s?[ _-]?0?0[0-4]", re.IGNORECASE),
    "the source documents' folder": re.compile(rf"\b{_SEED}s/|{_SHARED}\b", re.IGNORECASE),
    "a source file's name": re.compile(r"\b00[0-4]_[0-9a-f]{16}\b"),
    "the numbered guide": re.compile(r"\bguide\W{0,3}0?01\b", re.IGNORECASE),
    "a section of the private notes": re.compile(rf"\b{_REF}\W{{0,4}}{_SECTION}", re.IGNORECASE),
    "the private notes' folder": re.compile(rf"shared/{_REF}", re.IGNORECASE),
    "the private notes by name": re.compile(
        rf"\bamplitude\.md\b|\b{_LIMITS}\b|\bpartners\.md section\b", re.IGNORECASE
    ),
    "the private notes by description": re.compile(
        rf"\bthe {_REF}\b|\b{_REF} notes\b|\bthe {_SEED}s?\b", re.IGNORECASE
    ),
}
# (path, the cited text) → why it stays. Empty: nothing needs one today.
ALLOWED: dict[tuple[str, str], str] = {}

# A docs/ path named anywhere (not the tail of a URL such as amplitude.com/docs/...), with its #anchor.
DOCS_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]+\.(?:md|json|png))(?:#([\w-]+))?")
# A relative Markdown link target: name.md, name.md#anchor or #anchor.
MARKDOWN_LINK = re.compile(r"\]\((?!https?:|mailto:|/)([^)\s#]*)(?:#([^)\s]+))?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


@cache
def tracked_text_files() -> tuple[Path, ...]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    git = shutil.which("git")
    assert git, "git is needed to list the tracked files"
    listed = subprocess.run(  # noqa: S603 - git with fixed arguments
        [git, "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    paths = (ROOT / name for name in listed.split("\0") if name)
    return tuple(
        sorted(path for path in paths if (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES) and path.is_file())
    )


def anchors(document: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    found: set[str] = set()
    fenced = False
    for line in document.read_text().splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else HEADING.match(line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def test_the_scan_sees_the_repository() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in tracked_text_files()}
    assert {"README.md", "template.yaml", "pyproject.toml", "Makefile", "docs/delivery.md"} <= names
    assert any(name.startswith("layers/relay/postback_relay/") for name in names)


@pytest.mark.parametrize(
    "text",
    [
        f"(S{_SEED[1:]} 002)",
        f"{_SEED}_004s",
        f"{_SEED.title()} 000 (OpenAPI)",
        "(gu" + "ide 001)",
        f"the {_REF}'s full list",
        f"({_REF} {_SECTION}3)",
        f"See shared/{_REF}/partners.md sec" + "tion 2.",
        f"our {_REF} notes",
        f"where the {_SEED}s disagree",
    ],
)
def test_the_patterns_catch_what_the_repository_used_to_say(text: str) -> None:
    assert any(pattern.search(text) for pattern in PRIVATE_CITATIONS.values()), text


@pytest.mark.parametrize(
    "text",
    [
        "--fail-rate R --seed N",
        "SEED = 20261123",
        "random.Random(seed)",
        "https://amplitude.com/docs/apis/analytics/attribution",
        "the references to resources stay {'Ref': logical_id}",
        "Schema reference and a worked example: docs/custom-networks.md",
    ],
)
def test_the_patterns_leave_ordinary_words_alone(text: str) -> None:
    assert not any(pattern.search(text) for pattern in PRIVATE_CITATIONS.values()), text


def test_no_tracked_file_cites_the_private_source_documents() -> None:
    found = []
    for path in tracked_text_files():
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            for what, pattern in PRIVATE_CITATIONS.items():
                for match in pattern.finditer(line):
                    if (name, match.group(0)) not in ALLOWED:
                        found.append(f"{name}:{number}: {what}: {match.group(0)!r}")
    assert not found, (
        "cite the public page or a docs/ page instead (see docs/delivery.md and docs/partners.md):\n" + "\n".join(found)
    )


def test_every_docs_path_and_anchor_named_exists() -> None:
    missing = []
    for path in tracked_text_files():
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(errors="replace")
        targets = [(ROOT / target, anchor) for target, anchor in DOCS_PATH.findall(text)]
        if path.suffix == ".md":
            targets += [
                ((path.parent / target) if target else path, anchor) for target, anchor in MARKDOWN_LINK.findall(text)
            ]
        for target, anchor in targets:
            if not target.exists():
                missing.append(f"{name}: {target.relative_to(ROOT)} does not exist")
            elif anchor and target.suffix == ".md" and anchor not in anchors(target):
                missing.append(f"{name}: {target.relative_to(ROOT)} has no heading #{anchor}")
    assert not missing, "\n".join(sorted(set(missing)))
