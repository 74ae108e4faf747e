"""docs/conformance.md stays true: every test its table names exists (and every row names one)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

TEST_REF = re.compile(r"^(?P<path>tests/[\w/]+\.py)::(?P<name>test_\w+)(\[(?P<param>[^\]]+)\])?$")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
HEADER = ["Pachyderm feature", "runner behaviour", "Pachyderm source", "test"]


def table_rows(page: Path) -> list[list[str]]:
    """The body rows of the page's table: the cells of each '|' line after the header."""
    lines = [line for line in page.read_text().splitlines() if line.startswith("|")]
    # A cell may hold an escaped pipe (`\\|`, as Markdown tables write one): split on the others.
    rows = [[cell.strip() for cell in UNESCAPED_PIPE.split(line.strip()[1:-1])] for line in lines]
    assert rows and rows[0] == HEADER, f"{page}: the table must start with {HEADER}"
    return rows[2:]  # after the header and its --- line


def parametrize_ids(function: object) -> set[str]:
    ids: set[str] = set()
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize" and mark.kwargs.get("ids"):
            ids.update(mark.kwargs["ids"])
    return ids


def unbacked_rows(page: Path, repo_root: Path) -> list[str]:
    """One line per row cell that names no existing test (empty when the page is true)."""
    problems = []
    for row in table_rows(page):
        if len(row) != 4 or not all(row):
            problems.append(f"{row[0]}: a row needs all four cells")
            continue
        for ref in (ref.strip() for ref in row[3].split(",")):
            match = TEST_REF.match(ref)
            if not match:
                problems.append(f"{row[0]}: {ref!r} is not tests/<path>.py::test_name[optional-id]")
                continue
            if not (repo_root / match["path"]).is_file():
                problems.append(f"{row[0]}: no file {match['path']}")
                continue
            module = importlib.import_module(match["path"][:-3].replace("/", "."))
            function = getattr(module, match["name"], None)
            if not callable(function):
                problems.append(f"{row[0]}: {match['path']} has no {match['name']}")
            elif match["param"] and match["param"] not in parametrize_ids(function):
                problems.append(f"{row[0]}: {match['name']} has no case {match['param']!r}")
    return problems


def test_every_test_named_in_the_conformance_table_exists(repo_root: Path) -> None:
    page = repo_root / "docs" / "conformance.md"
    assert len(table_rows(page)) >= 25
    assert unbacked_rows(page, repo_root) == []


def test_the_check_catches_stale_rows(repo_root: Path, tmp_path: Path) -> None:
    """A row whose test, case or file is gone is reported (so a green run means every row is backed)."""
    page = tmp_path / "conformance.md"
    here = "tests/runner/test_spec_conformance.py"
    page.write_text(
        "| " + " | ".join(HEADER) + " |\n|---|---|---|---|\n"
        f"| gone | y | z | {here}::test_that_does_not_exist |\n"
        f"| case | y | z | tests/runner/test_spec_pachyderm.py::test_pachd_refuses_with_its_reason[nope] |\n"
        "| file | y | z | tests/runner/test_nothing_here.py::test_x |\n"
        f"| fine | y | z | {here}::test_the_check_catches_stale_rows |\n"
    )
    problems = unbacked_rows(page, repo_root)
    assert [p.split(":")[0] for p in problems] == ["gone", "case", "file"], problems
