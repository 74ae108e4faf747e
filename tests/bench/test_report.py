"""Goals and the Markdown report from a results dict."""

from __future__ import annotations

from bench.report import NOTES_MARKER, evaluate_goals, render_markdown, table, write_report


def results() -> dict:
    return {
        "scale": 1.0,
        "machine": {"logical_cores": 2, "physical_cores": 2, "memory_gb": 24.0, "python": "3.11.7"},
        "dataset": {"files": 8049, "rows": 26_000_000, "bytes": 2_800_000_000, "scale": 1.0, "seed": 0},
        "stages": [
            {
                "stage": "ingest",
                "seconds": 30.0,
                "cpu_seconds": 50.0,
                "runner_cpu_seconds": 8.0,
                "window_seconds": 31.0,
                "machine_idle_seconds": 6.2,
                "machine_steal_seconds": 9.3,
                "cores": 2,
                "rows": 26_000_000,
                "input_bytes": 2.8e9,
                "peak_rss": 0.6e9,
                "processed": 8049,
                "skipped": 0,
            },
            {
                "stage": "features",
                "seconds": 40.0,
                "rows": 26_000_000,
                "input_bytes": 1.0e9,
                "peak_rss": 1.2e9,
                "processed": 8051,
                "skipped": 0,
            },
            {"stage": "train", "seconds": 90.0, "peak_rss": 3e9, "processed": 1, "skipped": 0},
        ],
        "baselines": {
            "duckdb": {"seconds": 20.0, "cpu_seconds": 25.0, "rows": 26_000_000},
            "polars": {"seconds": 25.0},
        },
        "train": {
            "fit_seconds": 50.0,
            "model_bytes": 300_000,
            "metrics": {
                "random_80_20": {"chosen": {"mae": 90.0}, "random_forest_reference": {"mae": 100.0}},
                "time_split": {"chosen": {"mae": 110.0}, "random_forest_reference": {"mae": 100.0}},
            },
        },
        "incremental": {"datums": {"ingest": {"processed": 1}, "features": {"processed": 1}}},
    }


def test_goals_compare_stages_with_their_baselines_and_limits():
    goals = {g.name: g for g in evaluate_goals(results())}
    ingest = goals["ingest time / bulk DuckDB time"]
    assert ingest.measured == 1.5 and ingest.met is True  # at the limit is met
    assert goals["features time / bulk polars time"].met is False  # 1.6x
    assert goals["features peak memory (all processes)"].met is False
    assert goals["ingest peak memory (all processes)"].met is True
    assert goals["train: model file size"].measured == 0.3
    assert goals["train: MAE / forest MAE (random_80_20)"].met is True
    assert goals["train: MAE / forest MAE (time_split)"].met is False
    assert goals["runner: 8,000 trivial datums"].met is None  # not measured
    assert goals["incremental: features datums reprocessed"].met is True


def test_markdown_has_the_stage_table_and_verdicts():
    text = render_markdown(results())
    assert "| ingest | 30.0 | 50.0 | 26,000,000 | 866,667 | 2,800 | 93.3 | 0.60 |" in text
    assert "**missed**" in text and "not measured" in text
    assert "|:---|" in text
    assert "| ingest | 31.0 | 50.0 | 8.0 | 42.0 | 1.61 | 10% |" in text
    assert "| duckdb | 20.0 | 25.0 | 26,000,000 | n/a | ingest | 30.0 | 50.0 | 1.50 | 2.00 |" in text


def test_table_aligns_columns():
    assert table(("a", "b"), [(1, 2)]) == "| a | b |\n|:---|---:|\n| 1 | 2 |"


def test_write_report_keeps_the_notes_below_the_marker(tmp_path):
    doc = tmp_path / "benchmarks.md"
    write_report(doc, results())
    assert doc.read_text().rstrip().endswith(NOTES_MARKER)
    doc.write_text(doc.read_text() + "\n## Why features missed\n\nprofile...\n")
    write_report(doc, {**results(), "scale": 0.5})
    text = doc.read_text()
    assert "SCALE=0.5" in text and text.count(NOTES_MARKER) == 1
    assert text.endswith("## Why features missed\n\nprofile...\n")


def test_incremental_goal_wants_exactly_one_datum():
    data = results()
    data["incremental"]["datums"]["ingest"]["processed"] = 0
    goals = {g.name: g for g in evaluate_goals(data)}
    assert goals["incremental: ingest datums reprocessed"].met is False
    assert goals["incremental: features datums reprocessed"].relation == "="


def test_the_readme_paragraph_is_written_from_the_run_between_its_markers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bench.report import README_BEGIN, README_END, readme_summary, write_readme_summary

    run = results()
    run["machine"]["date_utc"] = "2026-12-01 20:14 UTC"
    run["loop"] = {"first_run_s": 44.9, "change_s": 19.5, "swap_failed_requests": 0}
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n\n{README_BEGIN}\nold numbers\n{README_END}\n\nafter\n")
    write_readme_summary(readme, run)
    text = readme.read_text()
    assert "old numbers" not in text and text.startswith("before\n") and text.endswith("\nafter\n")
    paragraph = readme_summary(run)
    assert paragraph in text and "2026-12-01 20:14 UTC, 2 cores" in paragraph
    assert "ingest 30.0 s, features 40.0 s" in paragraph
    assert "44.9 s from the put of the dataset" in paragraph and "19.5 s from one changed CSV" in paragraph
    run["others"] = {"share_of_machine": 0.01, "steal_share": 0.083}
    assert "2 cores, 1 % of them used by other work, 8 % of their time taken by the hypervisor:" in (
        readme_summary(run)
    )


def test_the_readme_and_docs_benchmarks_come_from_the_same_run() -> None:
    """The README's generated paragraph names the date of the run docs/benchmarks.md was written from."""
    import re
    from pathlib import Path

    from bench.report import README_BEGIN, README_END

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    paragraph = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    written = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d UTC);", (root / "docs" / "benchmarks.md").read_text())
    assert written is not None
    assert f"`make bench SCALE=1.0`, {written.group(1)}," in paragraph


def test_the_loop_section_times_a_path_of_the_bulk_baselines_from_the_same_run() -> None:
    run = results()
    run["loop"] = {"first_run_s": 80.0, "first_put_s": 8.0, "change_s": 19.5, "swap_failed_requests": 0}
    text = render_markdown(run)
    assert (
        "the put 8.0 s + DuckDB 20.0 s + polars 25.0 s + train's job of the first run 90.0 s = 143.0 s"
        in text
    )
    del run["baselines"]["polars"]
    assert "bulk baselines in place of" not in render_markdown(run)


def test_the_report_says_how_much_time_the_hypervisor_took() -> None:
    run = results()
    run["others"] = {"share_of_machine": 0.01, "other_cpu_seconds": 6, "seconds": 300, "steal_share": 0.12}
    run["others"]["steal_cpu_seconds"] = 72.0
    text = render_markdown(run)
    assert "12 % of the cores' time taken by the hypervisor (steal: 72 CPU s)" in text
    ingest_row = next(line for line in text.splitlines() if line.startswith("| ingest | 31.0 |"))
    assert ingest_row.rstrip().endswith("| 10% | 15% |")  # idle 6.2 and steal 9.3 of 31 s x 2 cores
