"""docs/: generated parts up to date (tools/docgen.py, mk/docs.mk), commands that exist, links resolve."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest

from tools import docgen

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
MY_DOCS = ("architecture.md", "running.md", "references.md")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MAKE_COMMAND = re.compile(r"(?:^|[`$(\s])make (?:-s )?([a-z][a-z-]*)")


def test_architecture_dag_and_table_are_what_make_docs_graph_draws() -> None:
    path = DOCS / "architecture.md"
    current = path.read_text(encoding="utf-8")
    fresh = docgen.render_architecture(current, REPO_ROOT / "specs", str(path))
    assert fresh == current, "docs/architecture.md is out of date with specs/: run `make docs-graph`"


def test_architecture_draws_every_pipeline_of_specs() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    dag = text.split(docgen.GRAPH_BEGIN)[1].split(docgen.GRAPH_END)[0]
    for spec in (REPO_ROOT / "specs").glob("*.json"):
        assert f"n_{spec.stem}" in dag
        assert f"../specs/{spec.name}" in text


def test_replace_between_markers_keeps_the_rest_and_names_a_missing_marker() -> None:
    text = "intro\n<!-- B -->\nold\n<!-- E -->\noutro\n"
    assert docgen.replace_between(text, "<!-- B -->", "<!-- E -->", "new\n", "x.md") == (
        "intro\n<!-- B -->\nnew\n<!-- E -->\noutro\n"
    )
    with pytest.raises(docgen.MarkerError, match=re.escape("x.md: missing marker <!-- E -->")):
        docgen.replace_between("<!-- B -->", "<!-- B -->", "<!-- E -->", "", "x.md")


@pytest.mark.parametrize("doc", MY_DOCS)
def test_relative_links_resolve(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    broken = [
        target
        for target in MARKDOWN_LINK.findall(text)
        if "://" not in target and not (DOCS / target).resolve().exists()
    ]
    assert not broken, f"docs/{doc} links to missing files: {broken}"


def test_every_make_target_that_running_md_shows_exists() -> None:
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    targets = {line.split()[0] for line in listed.splitlines() if line.strip()}
    text = (DOCS / "running.md").read_text(encoding="utf-8")
    code = re.findall(r"```.*?```", text, re.DOTALL) + re.findall(r"`[^`\n]+`", text)
    shown = {target for snippet in code for target in MAKE_COMMAND.findall(snippet)}
    assert {"pipeline", "cluster", "images", "deploy", "put-raw", "predict-url"} <= shown
    assert shown <= targets, f"running.md shows make targets that do not exist: {sorted(shown - targets)}"


def test_docs_targets_live_in_mk_docs_mk_and_run_the_docs_generator() -> None:
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    docs_mk = (REPO_ROOT / "mk" / "docs.mk").read_text(encoding="utf-8")
    cluster_mk = (REPO_ROOT / "mk" / "cluster.mk").read_text(encoding="utf-8")
    targets = ("docs-graph", "run-log", "test-time")
    for target in targets:
        assert f"  {target} " in listed, f"make help does not list {target}"
        assert f"\n{target}:" in docs_mk and f"\n{target}:" not in cluster_mk
    assert docs_mk.count("-m tools.docgen") == len(targets)


def test_running_md_opens_with_the_tldr_commands() -> None:
    text = (DOCS / "running.md").read_text(encoding="utf-8")
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("TLDR")
    for command in ("make pipeline", "make cluster", "make images", "make deploy", "make put-raw"):
        assert command in first_section


def test_references_name_the_sources_used() -> None:
    text = (DOCS / "references.md").read_text(encoding="utf-8")
    for source in (
        "kaggle.com/datasets/jacksoncrow/stock-market-dataset",
        "examples/ml/housing-prices",
        "pachyderm-sdk",
        "deployTarget=LOCAL",
        "flaskr",
        "hadolint",
    ):
        assert source in text


def test_the_retained_run_log_is_a_successful_run_on_the_sample() -> None:
    log = (DOCS / "pipeline-run.log").read_text(encoding="utf-8")
    assert log.startswith("# stockpipe: log of a real local run")
    assert "RAW=data/sample" in log
    first_run = log.split("## first run", 1)[1].split("\n## ", 1)[0]
    assert "# exit status 0" in first_run
    for spec in (REPO_ROOT / "specs").glob("*.json"):
        name = spec.stem
        if name == "serve":
            continue  # a service pipeline: the local runner does not run it
        assert re.search(rf"^{name}: job \w+ ok: ", first_run, re.MULTILINE), f"no successful {name} job"
    second_run = log.split("## second run", 1)[1].split("\n## ", 1)[0]
    assert "# exit status 0" in second_run
    assert all(n == "0" for n in re.findall(r"(\d+) processed", second_run)), (
        "the second run processed datums"
    )


def test_running_md_states_the_train_resource_requests_of_its_spec() -> None:
    """The troubleshooting advice quotes specs/train.json; it must change when the spec does."""
    import json

    requests = json.loads((REPO_ROOT / "specs" / "train.json").read_text(encoding="utf-8"))[
        "resourceRequests"
    ]
    memory = re.fullmatch(r"(\d+)Gi", requests["memory"])
    assert memory, f"train memory request {requests['memory']!r}: update this test and running.md"
    text = (DOCS / "running.md").read_text(encoding="utf-8")
    assert f"train asks for {requests['cpu']} CPUs and {memory.group(1)} GiB" in text
    assert f"the train pipeline alone requests {memory.group(1)} GiB" in text


def test_readme_test_time_is_a_measured_line_naming_the_machine() -> None:
    """The README's `make test` time is written by `make test-time` from a real run, not by hand."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    line = text.split(docgen.TEST_TIME_BEGIN, 1)[1].split(docgen.TEST_TIME_END, 1)[0]
    assert re.fullmatch(
        r"ruff, then \d+ tests in (1 pytest process|\d+ pytest processes): \d+ s in all \(\d+ s of tests\), "
        r"measured \d{4}-\d\d-\d\d on \d+ cores "
        r"\(.+\), load average [\d.]+ after",
        line,
    ), f"README.md's test time is not a make test-time line: {line!r}"


def test_test_time_names_the_pytest_processes_make_test_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The line names TEST_WORKERS as make reads it: the Makefile's default, or the environment's value."""
    monkeypatch.delenv("TEST_WORKERS", raising=False)
    default = docgen.test_workers()
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"TEST_WORKERS ?= {default}\n" in makefile
    assert "pytest -q -n $(TEST_WORKERS)" in makefile
    monkeypatch.setenv("TEST_WORKERS", "3")
    assert docgen.test_workers() == 3
    when = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    assert " tests in 3 pytest processes: " in docgen.test_time_line(10, 5.0, 6.0, when, 3)
    assert " tests in 1 pytest process: " in docgen.test_time_line(10, 5.0, 6.0, when, 0)


def test_test_time_line_reads_pytests_summary() -> None:
    for summary, passed, seconds in (
        ("496 passed in 457.54s (0:07:37)", 496, 457.54),
        ("490 passed, 3 skipped in 50.10s", 490, 50.1),
    ):
        match = docgen.PYTEST_SUMMARY.match(summary)
        assert match and int(match["passed"]) == passed and float(match["seconds"]) == seconds
