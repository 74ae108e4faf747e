"""Turn a benchmark's results (a JSON-able dict) into goals met or missed and a Markdown report.

Pure functions: ``evaluate_goals(results)`` and ``render_markdown(results)``. Units are decimal
(1 GB = 10^9 bytes, 1 MB = 10^6 bytes). ``write_report`` keeps whatever follows
``NOTES_MARKER`` in an existing report, so hand-written analysis survives a re-run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.executor import executor_lines
from bench.machine import PROBE_LOOP_STEPS, PROBE_MEMORY_BYTES

NOTES_MARKER = "<!-- Everything above is written by `make bench`; notes below this line are kept. -->"
STAGES_HEADING = "## Pipeline stages (first run, fresh state)"
GB = 1e9
MB = 1e6


@dataclass(frozen=True)
class Goal:
    """A goal ``measured <= limit`` (``<`` when ``strict``, ``==`` when ``exact``); None = not measured."""

    name: str
    measured: float | None
    limit: float
    unit: str
    strict: bool = False
    exact: bool = False

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        if self.exact:
            return self.measured == self.limit
        return self.measured < self.limit if self.strict else self.measured <= self.limit

    @property
    def relation(self) -> str:
        return "=" if self.exact else "<" if self.strict else "<="

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met]


def _get(doc: Any, *path: str | int) -> Any:
    """``doc[path[0]][path[1]]...``, or None when any step is missing."""
    for key in path:
        in_list = isinstance(doc, list) and isinstance(key, int) and -len(doc) <= key < len(doc)
        if (isinstance(doc, dict) and key in doc) or in_list:
            doc = doc[key]
        else:
            return None
    return doc


def stage(results: dict, name: str) -> dict:
    """The measurements of one pipeline stage of the main run ({} when it did not run)."""
    return next((s for s in results.get("stages", []) if s.get("stage") == name), {})


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _scaled(value: float | None, unit: float) -> float | None:
    return None if value is None else value / unit


#: The stages' goals against the bulk tools (issue 3): ingest / DuckDB and features / polars, wall time.
INGEST_DUCKDB_LIMIT = 1.5
FEATURES_POLARS_LIMIT = 1.5


def train_metric(results: dict, split: str, model: str, key: str) -> float | None:
    """A number of train's metrics.json: ``metrics[split][model][key]``."""
    return _get(results, "train", "metrics", split, model, key)


def evaluate_goals(results: dict) -> list[Goal]:
    """Every goal of the issues, measured or not."""
    ingest, features, train = stage(results, "ingest"), stage(results, "features"), stage(results, "train")
    duckdb = _get(results, "baselines", "duckdb", "seconds")
    polars = _get(results, "baselines", "polars", "seconds")
    goals = [
        Goal(
            "ingest time / bulk DuckDB time", _ratio(ingest.get("seconds"), duckdb), INGEST_DUCKDB_LIMIT, "x"
        ),
        Goal(
            "ingest peak memory (all processes)", _scaled(ingest.get("peak_rss"), GB), 1.0, "GB", strict=True
        ),
        Goal(
            "features time / bulk polars time",
            _ratio(features.get("seconds"), polars),
            FEATURES_POLARS_LIMIT,
            "x",
        ),
        Goal(
            "features peak memory (all processes)",
            _scaled(features.get("peak_rss"), GB),
            1.0,
            "GB",
            strict=True,
        ),
        Goal("train: chosen model fit time", _get(results, "train", "fit_seconds"), 120.0, "s"),
        Goal("train peak memory (all processes)", _scaled(train.get("peak_rss"), GB), 6.0, "GB"),
        Goal("train: model file size", _scaled(_get(results, "train", "model_bytes"), MB), 2.0, "MB"),
    ]
    for split in ("random_80_20", "time_split"):
        chosen = train_metric(results, split, "chosen", "mae")
        forest = train_metric(results, split, "random_forest_reference", "mae")
        goals.append(
            Goal(f"train: MAE / forest MAE ({split})", _ratio(chosen, forest), 1.0, "x", strict=True)
        )
    goals += [
        Goal("runner: 8,000 trivial datums", _get(results, "runner_datums", "first_run_s"), 20.0, "s"),
        Goal(
            "runner: put + run again, nothing changed",
            _get(results, "runner_datums", "nothing_changed_s"),
            3.0,
            "s",
        ),
    ]
    for name in ("ingest", "features"):
        processed = _get(results, "incremental", "datums", name, "processed")
        goals.append(Goal(f"incremental: {name} datums reprocessed", processed, 1, "datums", exact=True))
    if "loop" in results:
        from bench.loop import loop_goals  # the live loop's case (bench/loop.py)

        goals += loop_goals(results["loop"])
    return goals


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _speed_probe(probe: dict) -> str:
    """The Machine table's line for ``bench.machine.speed_probe``'s numbers."""
    if not probe:
        return "n/a"
    return (
        f"{_fmt(probe.get('python_loop_s'), 2)} s for a {PROBE_LOOP_STEPS / 1e6:g} M-step Python loop, "
        f"{_fmt(probe.get('fresh_memory_s'), 2)} s to write {PROBE_MEMORY_BYTES // 2**20} MiB of memory "
        "just taken from the system (bench/machine.py; they did not follow the machine's changes of "
        "speed seen so far)"
    )


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column, l or r (default: l then r...)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def stage_rows(stages: Sequence[dict]) -> list[list[str]]:
    return [
        [
            s["stage"] if s.get("ok", True) else f"{s['stage']} (**FAILED**)",
            _fmt(s.get("seconds")),
            _fmt(s.get("cpu_seconds")),
            _fmt(s.get("rows"), 0),
            _fmt(_ratio(s.get("rows"), s.get("seconds")), 0),
            _fmt(_scaled(s.get("input_bytes"), MB), 0),
            _fmt(_ratio(_scaled(s.get("input_bytes"), MB), s.get("seconds"))),
            _fmt(_scaled(s.get("peak_rss"), GB), 2),
            _fmt(s.get("peak_processes"), 0),
            _fmt(s.get("processed"), 0),
            _fmt(s.get("skipped"), 0),
        ]
        for s in stages
    ]


STAGE_HEADER = (
    "stage",
    "wall s",
    "CPU s",
    "input rows",
    "rows/s",
    "input MB",
    "MB/s",
    "peak GB",
    "processes",
    "datums run",
    "skipped",
)


def _other_load(others: dict) -> str:
    """The machine table's line on what else used the machine: other processes, the hypervisor."""
    steal = (
        f"{_fmt(others['steal_share'] * 100, 0)} % of the cores' time taken by the hypervisor (steal: "
        f"{_fmt(others.get('steal_cpu_seconds'), 0)} CPU s); "
        if others.get("steal_share") is not None
        else ""
    )
    return (
        f"{_fmt((others.get('share_of_machine') or 0) * 100, 0)} % of all cores used by other processes "
        f"({_fmt(others.get('other_cpu_seconds'), 0)} CPU s over {_fmt(others.get('seconds'), 0)} s); "
        f"{steal}load average {others.get('loadavg_before')} before, {others.get('loadavg_after')} after"
    )


def cpu_row(s: dict) -> list[str]:
    """Where one stage's CPU went (runner vs workers) and how busy the machine was."""
    window, cpu, runner = s.get("window_seconds"), s.get("cpu_seconds"), s.get("runner_cpu_seconds")
    cores = (s.get("cores") or 2) if window else None
    available = window * cores if window and cores else None
    idle = _ratio(s.get("machine_idle_seconds"), available)
    steal = _ratio(s.get("machine_steal_seconds"), available)
    return [
        s["stage"],
        _fmt(window),
        _fmt(cpu),
        _fmt(runner),
        _fmt(cpu - runner if cpu is not None and runner is not None else None),
        _fmt(_ratio(cpu, window), 2),
        "n/a" if idle is None else f"{idle:.0%}",
        "n/a" if steal is None else f"{steal:.0%}",
    ]


BASELINE_OF_STAGE = (("duckdb", "ingest"), ("polars", "features"))


def baseline_row(results: dict, name: str, stage_name: str) -> list[str]:
    base = _get(results, "baselines", name) or {}
    measured = stage(results, stage_name)
    return [
        name,
        _fmt(base.get("seconds")),
        _fmt(base.get("cpu_seconds")),
        _fmt(base.get("rows"), 0),
        _fmt(_scaled(base.get("peak_rss"), GB), 2),
        stage_name,
        _fmt(measured.get("seconds")),
        _fmt(measured.get("cpu_seconds")),
        _fmt(_ratio(measured.get("seconds"), base.get("seconds")), 2),
        _fmt(_ratio(measured.get("cpu_seconds"), base.get("cpu_seconds")), 2),
    ]


def render_markdown(results: dict) -> str:
    """The whole report (above the notes marker)."""
    machine, data = results.get("machine", {}), results.get("dataset", {})
    others = results.get("others", {})
    out = [
        "# Benchmarks",
        "",
        f"Written by `make bench SCALE={results.get('scale')}` (`python -m bench`) on "
        f"{machine.get('date_utc')}; "
        "every number below comes from that one run. Times are wall-clock seconds, memory is the peak of "
        "the summed RSS of the process and all its children (sampled every 0.1 s), 1 GB = 10^9 bytes.",
        "",
        "What the run does: generate the synthetic dataset if missing (`python -m tools.synth`), start a "
        "fresh local runner state, `put file -r raw@master:/ -f <dataset>`, `update pipeline -f specs/`, "
        "`run` (ingest, features, train), then the bulk baselines in child processes on the same files "
        "(DuckDB over the raw CSVs of the `raw` repo, polars over the ingest output), the runner's "
        "8,000-datum benchmark, a re-run with nothing changed, and the incremental case (one symbol's "
        "CSV changed with `put file`, then `run`).",
        "",
        "## Machine",
        "",
        table(
            ("fact", "value"),
            [
                (
                    "cores (logical / physical)",
                    f"{machine.get('logical_cores')} / {machine.get('physical_cores')}",
                ),
                ("memory", f"{machine.get('memory_gb')} GB"),
                ("Python", machine.get("python")),
                ("platform", machine.get("platform")),
                (
                    "libraries",
                    ", ".join(f"{k} {v}" for k, v in (machine.get("libraries") or {}).items() if v),
                ),
                ("date", machine.get("date_utc")),
                ("speed probe at the start", _speed_probe(machine.get("speed_probe") or {})),
                ("other load during the run", _other_load(others)),
            ],
            align="ll",
        ),
        "",
    ]
    if others.get("top"):
        out += [
            "Busiest other processes during the run (CPU seconds): "
            + "; ".join(f"`{t['command']}` {t['cpu_seconds']}" for t in others["top"])
            + ".",
            "",
        ]
    out += [
        "## Dataset",
        "",
        f"`python -m tools.synth --scale {data.get('scale')} --seed {data.get('seed')}`: "
        f"{_fmt(data.get('files'), 0)} files ({_fmt(data.get('stocks'), 0)} stocks, "
        f"{_fmt(data.get('etfs'), 0)} "
        f"ETFs), {_fmt(data.get('rows'), 0)} rows (per file {_fmt(data.get('min_rows'), 0)} to "
        f"{_fmt(data.get('max_rows'), 0)}, median {_fmt(data.get('median_rows'), 0)}), "
        f"{_fmt(_scaled(data.get('bytes'), GB), 2)} GB of CSV, "
        f"{_fmt(data.get('empty_rows'), 0)} empty rows in "
        f"{_fmt(data.get('float_volume_files'), 0)} files with float-text volumes, "
        f"{_fmt(data.get('zero_volume_rows'), 0)} zero-volume rows. `put file` of it into `raw`: "
        f"{_fmt(_get(results, 'put_file', 'seconds'))} s.",
        "",
        "How it is made (`tools/synth/`): the real `symbols_valid_meta.csv` is copied byte for byte and "
        "every listing gets `stocks/` or `etfs/<NASDAQ Symbol>.csv` by its ETF flag; the dates are the "
        "real NYSE trading days of `data/sample/stocks/AA.csv` (1962-01-02 to 2020-04-01, 14,663 days), "
        "each file ending on 2020-04-01; rows per file come from a mixture (18-20 % young listings of "
        "2-750 rows, a log-normal bulk, 12 % of stocks listed before ~1986; ETFs no older than SPY's "
        "1993-01-29); prices are a random walk quoted in cents, split-adjusted backwards, stored as "
        "float32 and printed as `repr(float(float32))` like the real files (about 108 bytes per row, as "
        "in the bundled real sample); Adj Close = Close x a dividend factor <= 1; High/Low bracket "
        "Open/Close; zero-volume runs with Open = High = Low = Close; about 1 % of files have 1-3 empty "
        "rows and so print every Volume as float text (like NVDA). Each file is drawn from its own "
        "generator seeded by (seed, symbol). `--scale` keeps all 8,049 files and shrinks each file's "
        "rows to their most recent `scale` share (at least one row), so datum counts stay those of the "
        "real dataset at any scale.",
        "",
        STAGES_HEADING,
        "",
        table(STAGE_HEADER, stage_rows(results.get("stages", []))),
        "",
        *(
            [
                f"**`run` failed** (exit {_get(results, 'run', 'returncode')}):",
                "",
                "```",
                _get(results, "run", "failure"),
                "```",
                "",
            ]
            if _get(results, "run", "returncode")
            else []
        ),
        "Where the time went: the runner process (datum listing, staging, output hashing and commit) "
        "against its worker processes (the stage code), how many of the cores the stage kept busy, and "
        "how much of the machine sat idle (idle + iowait, all cores) during the stage's window, and how "
        "much of it the hypervisor gave to other guests (steal: time this machine's cores did not run).",
        "",
        table(
            (
                "stage",
                "window s",
                "CPU s",
                "runner CPU s",
                "workers CPU s",
                "cores busy",
                "machine idle",
                "steal",
            ),
            [cpu_row(s) for s in results.get("stages", [])],
        ),
        "",
        f"Whole `run`: {_fmt(_get(results, 'run', 'seconds'))} s, "
        f"{_fmt(_get(results, 'run', 'cpu_seconds'))} CPU s, peak "
        f"{_fmt(_scaled(_get(results, 'run', 'peak_rss'), GB), 2)} GB. Input of ingest: the raw CSVs; of "
        "features: the ingest Parquet files; of train: the features Parquet files.",
        "",
        "## Baselines (same run, same files)",
        "",
        table(
            (
                "baseline",
                "wall s",
                "CPU s",
                "rows",
                "peak GB",
                "stage",
                "stage wall s",
                "stage CPU s",
                "wall ratio",
                "CPU ratio",
            ),
            [baseline_row(results, name, stage_name) for name, stage_name in BASELINE_OF_STAGE],
        ),
        "",
        "DuckDB: `read_csv` over the glob of the `raw` repo's CSVs with `filename=true` and explicit column "
        "types, `COPY ... TO` one Parquet file. Polars: `scan_parquet` of the ingest output, "
        "`rolling_mean`/`rolling_median` of 30 rows `.over('Symbol')`, `sink_parquet`. Both use both cores. "
        "The goals compare wall times; CPU seconds (user + system of all processes, sampled) show the "
        "work done whatever else the shared machine was running.",
        "",
        "## Goals",
        "",
        table(
            ("goal", "measured", "limit", "verdict"),
            [
                (
                    g.name,
                    f"{_fmt(g.measured, 2)} {g.unit}",
                    f"{g.relation} {_fmt(g.limit, 1)} {g.unit}",
                    g.verdict,
                )
                for g in evaluate_goals(results)
            ],
            align="lrrl",
        ),
        "",
    ]
    out += _train_section(results)
    out += _runner_section(results)
    out += _incremental_section(results)
    if "loop" in results:
        from bench.loop import bulk_path_line, loop_section

        out += ["", loop_section(results["loop"])]
        bulk = bulk_path_line(results)
        out += [bulk, ""] if bulk else []
    out += executor_lines(results)
    return "\n".join(out).rstrip() + "\n"


def _train_section(results: dict) -> list[str]:
    train = results.get("train") or {}
    if not train.get("metrics"):
        return ["## Train", "", "No train metrics (the train stage did not run).", ""]
    rows = []
    for split in ("random_80_20", "time_split"):
        for model in ("chosen", "random_forest_reference", "naive_vol_moving_avg"):
            entry = _get(train, "metrics", split, model) or {}
            rows.append(
                (
                    split,
                    model,
                    _fmt(entry.get("train_rows"), 0),
                    _fmt(entry.get("mae"), 0),
                    _fmt(entry.get("r2"), 3),
                    _fmt(entry.get("fit_seconds")),
                    _fmt(entry.get("fit_cpu_seconds")),
                    _fmt(_scaled(entry.get("model_bytes"), MB), 2),
                    _fmt(entry.get("rows"), 0),
                )
            )
    return [
        "## Train",
        "",
        f"From the train output (`metrics.json`, `model.json`): chosen model "
        f"{train.get('library', 'n/a')}, trained on {_fmt(train.get('training_rows'), 0)} rows, model file "
        f"{_fmt(_scaled(train.get('model_bytes'), MB), 2)} MB.",
        "",
        table(
            ("split", "model", "train rows", "MAE", "R²", "fit s", "fit CPU s", "model MB", "scored rows"),
            rows,
            align="llrrrrrrr",
        ),
        "",
    ]


def _runner_section(results: dict) -> list[str]:
    datums = results.get("runner_datums")
    out = ["## Runner: 8,000 trivial datums", ""]
    if not isinstance(datums, dict) or "error" in (datums or {}):
        reason = (
            (datums or {}).get("error", "bench.runner_datums is not available")
            if isinstance(datums, dict)
            else "bench.runner_datums is not available"
        )
        return [*out, f"Not measured: {reason}.", ""]
    rows = [(k, _fmt(v, 2) if isinstance(v, int | float) else str(v)) for k, v in datums.items()]
    return [
        *out,
        "`bench.runner_datums.measure(workdir, n_datums=8000)`:",
        "",
        table(("measure", "value"), rows, align="lr"),
        "",
    ]


def _incremental_section(results: dict) -> list[str]:
    inc = results.get("incremental")
    rerun = results.get("rerun_no_change") or {}
    out = ["## Re-run and incremental case", ""]
    if rerun:
        out += [
            f"`run` again with nothing changed: {_fmt(rerun.get('seconds'), 2)} s, "
            f"jobs: {rerun.get('jobs', 0)}.",
            "",
        ]
    if not inc:
        return [*out, "Incremental case not measured.", ""]
    rows = [
        (name, _fmt(d.get("seconds"), 2), _fmt(d.get("processed"), 0), _fmt(d.get("skipped"), 0))
        for name, d in (inc.get("datums") or {}).items()
    ]
    return [
        *out,
        f"`{inc.get('path')}` changed ({inc.get('change')}), then `put file` "
        f"({_fmt(inc.get('put_seconds'), 2)} s) and `run`: the new model was written "
        f"{_fmt(inc.get('model_written_after'), 1)} s after `run` started "
        f"({_fmt(inc.get('run_seconds'), 1)} s for the whole `run` command).",
        "",
        table(("stage", "job s", "datums run", "skipped"), rows),
        "",
    ]


#: The README's paragraph on the full-scale numbers, rewritten by ``make bench SCALE=1.0``.
README_BEGIN = "<!-- BEGIN GENERATED BENCH: make bench SCALE=1.0 -->"
README_END = "<!-- END GENERATED BENCH -->"


def readme_summary(results: dict) -> str:
    """The README's paragraph: the first run's stages, the incremental case and the live loop, from
    the same run as docs/benchmarks.md."""
    stages = {s["stage"]: s for s in results.get("stages", [])}
    machine, others = results.get("machine", {}), results.get("others", {})
    share = _fmt((others.get("share_of_machine") or 0) * 100, 0)
    steal = others.get("steal_share")
    stolen = "" if steal is None else f", {_fmt(steal * 100, 0)} % of their time taken by the hypervisor"
    seconds = ", ".join(
        f"{name} {_fmt(stages[name].get('seconds'), 1)} s"
        for name in ("ingest", "features", "train")
        if name in stages
    )
    text = (
        f"On the full dataset (a generated one of the same size, `make bench SCALE=1.0`, "
        f"{machine.get('date_utc')}, {machine.get('logical_cores', '?')} cores, {share} % of them used by "
        f"other work{stolen}: [docs/benchmarks.md](docs/benchmarks.md)) a first `run` took "
        f"{_fmt(_get(results, 'run', 'seconds'), 0)} s: {seconds}"
    )
    if "evaluate" in stages:
        text += (
            f", then evaluate {_fmt(stages['evaluate'].get('seconds'), 1)} s, which does not delay the model"
        )
    inc = results.get("incremental") or {}
    if inc.get("model_written_after") is not None:
        text += (
            f"; after one changed CSV the new model was written {_fmt(inc['model_written_after'], 1)} s "
            "after `run` started"
        )
    loop = results.get("loop") or {}
    if loop.get("first_run_s") is not None and loop.get("change_s") is not None:
        text += (
            f". Under `runner up` with 16 connections of load on the API: {_fmt(loop['first_run_s'], 1)} s "
            f"from the put of the dataset to `/predict` answering from its model, "
            f"{_fmt(loop['change_s'], 1)} s from one changed CSV to the new model answering, "
            f"{loop.get('swap_failed_requests', '?')} failed requests during the swap"
        )
    return text + "."


def write_report(path: Path, results: dict) -> None:
    """Write the report to ``path``, keeping the notes below NOTES_MARKER of an existing file."""
    path = Path(path)
    notes = ""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1].lstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_markdown(results) + "\n" + NOTES_MARKER + "\n" + (("\n" + notes) if notes else "")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_readme_summary(readme: Path, results: dict) -> None:
    """Replace the README's generated paragraph (between README_BEGIN and README_END) by this run's."""
    from tools.docgen import replace_between

    text = Path(readme).read_text(encoding="utf-8")
    body = readme_summary(results) + "\n"
    Path(readme).write_text(
        replace_between(text, README_BEGIN, README_END, body, str(readme)), encoding="utf-8"
    )
