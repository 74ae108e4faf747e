"""Pachyderm's examples that need no network, run unchanged (tests/runner/examples/README.md names
each file's source) with this machine's commands standing in for their images; each gives the
output its README states."""

from __future__ import annotations

from pathlib import Path

from tests.runner.conftest import Runner

EXAMPLES = Path(__file__).parent / "examples"


def test_shuffle_example_gives_its_readme_output(runner: Runner) -> None:
    """examples/shuffle/README.md: after `pachctl put file fruits@master -f mango.jpeg` (and apple,
    and the pricing JSONs), the job processes 4 datums (`4 + 0 / 4`) and `shuffle@master` holds
    /apple/cost.json (23B), /apple/img.jpeg (4.978KiB), /mango/cost.json (22B), /mango/img.jpeg
    (7.029KiB). It needs: emptyFiles (files staged empty), a /pfs with no hidden component (its
    `find -L /pfs -not -path "*/\\.*"`), and output symlinks uploaded as the input file they point at
    (src/server/worker/datum/datum.go handleSymlinks: CopyFile for emptyFiles inputs)."""
    folder = EXAMPLES / "shuffle"
    runner("create", "repo", "fruits")
    runner("put", "file", "fruits@master", "-f", str(folder / "mango.jpeg"))
    runner("put", "file", "fruits@master", "-f", str(folder / "apple.jpeg"))
    runner("create", "repo", "pricing")
    runner("put", "file", "pricing@master", "-f", str(folder / "mango.json"))
    runner("put", "file", "pricing@master", "-f", str(folder / "apple.json"))
    runner("create", "pipeline", "-f", str(folder / "shuffle.pipeline.json"))
    assert "shuffle: job" in runner("run").out and runner.jobs("shuffle")[0]["datums"]["processed"] == 4
    head = runner.state / "shuffle" / "master"
    sizes = {str(p.relative_to(head)): p.stat().st_size for p in sorted(head.rglob("*")) if p.is_file()}
    assert sizes == {
        "apple/cost.json": 23,
        "apple/img.jpeg": 5097,
        "mango/cost.json": 22,
        "mango/img.jpeg": 7198,
    }
    for fruit in ("apple", "mango"):
        assert (head / fruit / "img.jpeg").read_bytes() == (folder / f"{fruit}.jpeg").read_bytes()
        assert (head / fruit / "cost.json").read_bytes() == (folder / f"{fruit}.json").read_bytes()
    listing = runner("list", "file", "shuffle@master:/apple").out
    assert "/apple/cost.json" in listing and "/apple/img.jpeg" in listing


def test_hyperparameter_split_stage_gives_its_readme_output(runner: Runner) -> None:
    """examples/ml/hyperparameter/README.md: `pachctl put file raw_data@master:iris.csv -f
    noisy_iris.csv`, then the split pipeline (one datum, glob `/`) shuffles the data set into
    train.csv (80 rows, `head -n80`) and test.csv (20 rows, `tail -n20`): together every row once."""
    folder = EXAMPLES / "hyperparameter"
    runner("create", "repo", "raw_data")
    runner("put", "file", "raw_data@master:iris.csv", "-f", str(folder / "noisy_iris.csv"))
    runner("create", "pipeline", "-f", str(folder / "split.pipeline.json"))
    assert "split: job" in runner("run").out and runner.jobs("split")[0]["datums"]["total"] == 1
    files = runner.head_files("split")
    assert sorted(files) == ["test.csv", "train.csv"]
    train, test = files["train.csv"].splitlines(), files["test.csv"].splitlines()
    rows = (folder / "noisy_iris.csv").read_text().splitlines()
    assert len(train) == 80 and len(test) == 20
    assert sorted(train + test) == sorted(rows)
