"""Fill docs/model.md's generated blocks and draw its plot from train's and evaluate's outputs.

    python -m stages.train.modeldoc --train-dir .pfs/train/master --evaluate-dir .pfs/evaluate/master \
        --doc docs/model.md --plot docs/model-predictions.png        (what `make model-doc` runs)

The prose of docs/model.md is hand-written; every number between
``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->`` markers is rewritten here
from train's model.json, metrics.json and loss.csv and evaluate's comparison.json and
predictions_sample.parquet. The blocks name commits and repo-relative sources, never the folders
read (a machine's paths). Not part of the train image (its .dockerignore leaves this file out:
matplotlib is a development dependency).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
from pathlib import Path

from stages.common import model_contract as contract
from stages.common.atomic import atomic_path, write_text_atomic
from stages.train.models import CHOSEN, FOREST, NAIVE

#: evaluate's files (stages/evaluate/evaluate.py names them; not imported: that module pulls in lightgbm).
COMPARISON_FILE = "comparison.json"
PREDICTIONS_FILE = "predictions_sample.parquet"
#: How the committed doc is regenerated (mk/train.mk).
COMMAND = "make model-doc"

log = logging.getLogger("modeldoc")

SPLITS = {"random_80_20": "Random 80/20 split", "time_split": "Time split"}
MODELS = {
    CHOSEN: "LightGBM, Huber on log1p (chosen)",
    FOREST: "RandomForest, 100 trees (reference)",
    NAIVE: "Naive: Volume = vol_moving_avg",
}
BLOCK = re.compile(
    r"(<!-- BEGIN generated:(?P<name>[a-z_]+) -->\n).*?(<!-- END generated:(?P=name) -->)", re.S
)


class ModelDocError(ValueError):
    """The model folder or the doc cannot be used; the message says which file and why."""


def _missing(path: str) -> ModelDocError:
    return ModelDocError(
        f"modeldoc: {path} not found: run the pipeline first (make pipeline) "
        "or set TRAIN_DIR and EVALUATE_DIR"
    )


def _load(train_dir: Path, evaluate_dir: Path) -> tuple[dict, dict, list[dict], dict]:
    """train's model.json, metrics.json and loss log, and evaluate's comparison."""
    try:
        model = json.loads((train_dir / contract.METADATA_FILE).read_text(encoding="utf-8"))
        metrics = json.loads((train_dir / contract.METRICS_FILE).read_text(encoding="utf-8"))
        with (train_dir / contract.LOSS_FILE).open(encoding="utf-8") as fh:
            loss = list(csv.DictReader(fh))
        comparison = json.loads((evaluate_dir / COMPARISON_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _missing(exc.filename) from exc
    return model, metrics, loss, comparison


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e7 or abs(value) < 1e-2:
        mantissa, exponent = f"{value:.3e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"


def _bytes(size: int) -> str:
    if size == 0:
        return "none"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def _pct_below(better: float, worse: float) -> str:
    if worse == 0:
        return "n/a"
    return f"{100.0 * (worse - better) / worse:.1f}%"


def _commit(value: str | None) -> str:
    return f"`{value}`" if value else "none (run outside a pipeline)"


def source_block(model: dict, metrics: dict, comparison: dict) -> str:
    data, evaluated = metrics["data"], comparison["data"]
    versions = ", ".join(f"{k} {v}" for k, v in model["library_versions"].items())
    params = model["params"]
    return (
        f"- Written by `{COMMAND}` (stages/train/modeldoc.py) from the train stage's "
        f"{contract.METADATA_FILE}, {contract.METRICS_FILE} and {contract.LOSS_FILE} "
        f"(stages/train/train.py) and the evaluate stage's {COMPARISON_FILE} and {PREDICTIONS_FILE} "
        f"(stages/evaluate/evaluate.py); features commit {_commit(model['input_commit'])}, "
        f"train commit {_commit(evaluated.get('train_commit'))}.\n"
        f"- train: trained at {model['trained_at']}, whole stage {data.get('total_seconds', 'n/a')} s "
        f"(reading the features {data.get('read_seconds', 'n/a')} s), peak memory "
        f"{data.get('peak_rss_mb', 'n/a')} MB; evaluate: {evaluated.get('total_seconds', 'n/a')} s, peak "
        f"memory {evaluated.get('peak_rss_mb', 'n/a')} MB.\n"
        f"- Rows read {data['rows_read']:,}; dropped for a null feature "
        f"{data['rows_dropped_null_features']:,}; used {data['rows_used']:,}. The served model was fit on "
        f"{model['training_rows']:,} rows: {model['fit_on']}.\n"
        f"- Chosen model: LightGBM `{params['objective']}` (alpha {params.get('alpha', 'n/a')}) on "
        f"`{model['target_transform']}(Volume)`, {params['num_boost_round']} rounds, learning rate "
        f"{params['learning_rate']}, {params['num_leaves']} leaves, max_bin {params['max_bin']}, "
        f"{params['num_threads']} thread(s), seed {model['seed']}, deterministic.\n"
        f"- Versions: {versions}.\n"
    )


def metrics_block(metrics: dict) -> str:
    lines = []
    for split, title in SPLITS.items():
        block = metrics[split]
        details = block["split"]
        scored = (
            f"a random sample of {details['scored_rows']:,} of its {details['test_rows']:,} test rows"
            if details["scored_is_sample"]
            else f"all {details['test_rows']:,} test rows"
        )
        lines.append(
            f"**{title}**: {details['method']}; {details['train_rows']:,} training rows; every model "
        )
        lines.append(f"scored on the same rows, {scored}.\n")
        header = ("model", "MAE", "MSE", "R²", "fit (s)", "fit CPU (s)", "model size", "1-row predict (µs)")
        lines.append("| " + " | ".join(header) + " | training rows |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, name in MODELS.items():
            m = block[key]
            cells = [
                name,
                _num(m["mae"]),
                _num(m["mse"]),
                f"{m['r2']:.4f}",
                f"{m['fit_seconds']:.1f}",
                f"{m.get('fit_cpu_seconds', 0.0):.1f}",
                _bytes(m["model_bytes"]),
                f"{m['predict_latency_us']:.1f}",
                f"{m['train_rows']:,}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        full = [
            f"{MODELS[key]} MAE {_num(block[key]['full_test']['mae'])}, "
            f"R² {block[key]['full_test']['r2']:.4f}"
            for key in (CHOSEN, NAIVE)
        ]
        lines.append(f"\nOn all {details['test_rows']:,} test rows: " + "; ".join(full) + ".")
        lines.append(f"Chosen: {block[CHOSEN]['trained_on']}. Forest: {block[FOREST]['trained_on']}.\n")
    return "\n".join(lines) + "\n"


def comparison_block(metrics: dict) -> str:
    lines = []
    for split, title in SPLITS.items():
        block = metrics[split]
        chosen, forest, naive = block[CHOSEN], block[FOREST], block[NAIVE]
        speedup = forest["predict_latency_us"] / max(chosen["predict_latency_us"], 1e-9)
        verdict = "below" if chosen["mae"] < forest["mae"] else "NOT below"
        lines.append(
            f"- {title}: the chosen model's MAE is {_pct_below(chosen['mae'], forest['mae'])} {verdict} the "
            f"forest's ({_num(chosen['mae'])} vs {_num(forest['mae'])}) and "
            f"{_pct_below(chosen['mae'], naive['mae'])} below the naive baseline's ({_num(naive['mae'])}); "
            f"its file is {forest['model_bytes'] / max(chosen['model_bytes'], 1):,.0f}x smaller than the "
            f"pickled forest ({_bytes(chosen['model_bytes'])} vs {_bytes(forest['model_bytes'])}) and a "
            f"single-row prediction is {speedup:,.0f}x faster ({chosen['predict_latency_us']:.0f} µs vs "
            f"{forest['predict_latency_us']:.0f} µs)."
        )
    return "\n".join(lines) + "\n"


def loss_block(loss: list[dict], model: dict) -> str:
    if not loss:
        return "- loss.csv is empty.\n"
    columns = [c for c in loss[0] if c != "iteration"]
    first, last = loss[0], loss[-1]
    lines = [f"- {model['loss_log']}; {len(loss)} iterations."]
    for column in columns:
        values = [float(row[column]) for row in loss]
        best = min(range(len(values)), key=values.__getitem__)
        lines.append(
            f"- `{column}`: {float(first[column]):.5f} after iteration 1, {float(last[column]):.5f} after "
            f"iteration {last['iteration']} (lowest {values[best]:.5f} at iteration {best + 1})."
        )
    return "\n".join(lines) + "\n"


def fill(doc_text: str, blocks: dict[str, str]) -> str:
    """Replace each generated block of ``doc_text``; fail if one is missing."""
    seen = set()

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in blocks:
            return match.group(0)
        seen.add(name)
        return match.group(1) + blocks[name] + match.group(3)

    text = BLOCK.sub(replace, doc_text)
    missing = sorted(set(blocks) - seen)
    if missing:
        raise ModelDocError(f"modeldoc: the doc has no generated block(s) {', '.join(missing)}")
    return text


def generate_blocks(train_dir: Path, evaluate_dir: Path) -> dict[str, str]:
    model, metrics, loss, comparison = _load(train_dir, evaluate_dir)
    return {
        "source": source_block(model, metrics, comparison),
        "metrics": metrics_block(comparison),
        "comparison": comparison_block(comparison),
        "loss": loss_block(loss, model),
    }


def draw_plot(evaluate_dir: Path, plot: Path) -> None:
    """Predicted against actual volume on the time-split test sample, log scales (volume + 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    path = evaluate_dir / PREDICTIONS_FILE
    if not path.is_file():
        raise _missing(str(path))
    table = pq.read_table(path).to_pydict()
    actual = [v + 1 for v in table["actual"]]
    low, high = min(actual), max(actual)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharex=True, sharey=True)
    for ax, key in zip(axes, (CHOSEN, FOREST, NAIVE), strict=True):
        predicted = [v + 1 for v in table[key]]
        ax.scatter(actual, predicted, s=2, alpha=0.25, color="tab:blue", rasterized=True)
        ax.plot([low, high], [low, high], color="tab:red", linewidth=1, label="predicted = actual")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(MODELS[key], fontsize=10)
        ax.set_xlabel("actual volume + 1")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("predicted volume + 1")
    axes[0].legend(loc="upper left")
    dates = sorted(table["Date"])
    fig.suptitle(
        f"Time-split test rows ({dates[0]} to {dates[-1]}; {len(actual):,} rows): predicted vs actual"
    )
    fig.tight_layout()
    with atomic_path(plot) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)
    parser = argparse.ArgumentParser(
        prog="python -m stages.train.modeldoc", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--train-dir", type=Path, required=True, help="a train output folder")
    parser.add_argument("--evaluate-dir", type=Path, required=True, help="the evaluate output of that model")
    parser.add_argument("--doc", type=Path, help="the markdown file whose generated blocks are rewritten")
    parser.add_argument("--plot", type=Path, help="where to draw the predicted-vs-actual PNG")
    args = parser.parse_args(argv)
    try:
        if args.doc:
            text = fill(
                args.doc.read_text(encoding="utf-8"), generate_blocks(args.train_dir, args.evaluate_dir)
            )
            write_text_atomic(args.doc, text)
            log.info("modeldoc: rewrote the generated blocks of %s from %s", args.doc, args.evaluate_dir)
        if args.plot:
            draw_plot(args.evaluate_dir, args.plot)
            log.info("modeldoc: drew %s from %s", args.plot, args.evaluate_dir)
    except (ModelDocError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
