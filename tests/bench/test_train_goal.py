"""bench.pipeline.train_goal: the train job's time and MAE against the goal make bench prints."""

from __future__ import annotations

from bench.pipeline import TRAIN_FULL_FIT_MAE, train_goal


def _train(mae: float) -> dict:
    return {"metrics": {"random_80_20": {"chosen": {"mae": mae}}}}


def test_met_only_when_both_time_and_mae_are_within_the_goal() -> None:
    stages = [
        {"stage": "features", "ok": True, "seconds": 30.0},
        {"stage": "train", "ok": True, "seconds": 12.0},
    ]
    goal = train_goal(stages, _train(TRAIN_FULL_FIT_MAE * 1.004))
    assert goal["met"] and goal["line"].endswith("-> met") and "+0.40%" in goal["line"]
    assert not train_goal(stages, _train(TRAIN_FULL_FIT_MAE * 1.006))["met"]
    slow = [{"stage": "train", "ok": True, "seconds": 15.5}]
    assert not train_goal(slow, _train(TRAIN_FULL_FIT_MAE))["met"]


def test_not_measured_without_a_train_job() -> None:
    goal = train_goal([{"stage": "ingest", "ok": True, "seconds": 1.0}], {})
    assert not goal["met"] and "not measured" in goal["line"]
