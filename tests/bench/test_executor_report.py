"""The executor comparison's report section (bench/executor.py): the goal's verdict on the fastest
round of each executor, and every round's own docker / local ratio beside it."""

from __future__ import annotations

from bench.executor import executor_lines, missed_goals


def _stage(local: list[float], docker: list[float]) -> dict:
    return {
        "local_seconds": min(local),
        "docker_seconds": min(docker),
        "ratio": min(docker) / min(local),
        "local_cpu_seconds": 50.0,
        "docker_cpu_seconds": 55.0,
        "cpu_ratio": 1.1,
        "same_outputs": True,
        "all_seconds": {"local": local, "docker": docker},
        "round_ratios": [d / loc for d, loc in zip(docker, local, strict=True)],
        "files": 10,
    }


def test_each_rounds_ratio_is_shown_beside_the_fastest_rounds_verdict():
    results = {
        "executors": {
            "goal": 1.2,
            "rounds": 3,
            "stages": {
                "ingest": _stage([50.0, 60.0, 55.0], [55.0, 80.0, 57.2]),
                "features": _stage([30.0, 40.0, 35.0], [40.0, 44.0, 42.0]),
            },
        }
    }
    text = "\n".join(executor_lines(results))
    assert "3 round(s)" in text
    assert "| ingest | 50.0 | 55.0 | 1.10 x | <= 1.2 x (met) |" in text
    assert "| features | 30.0 | 40.0 | 1.33 x | <= 1.2 x (missed) |" in text
    assert "ingest 1.10 x, 1.33 x, 1.04 x; features 1.33 x, 1.10 x, 1.20 x." in text
    assert missed_goals(results) == ["features: docker / local time <= 1.2"]


def test_a_skipped_comparison_says_why():
    lines = executor_lines({"executors": {"skipped": "no Docker daemon answers"}})
    assert "Not measured: no Docker daemon answers" in lines
