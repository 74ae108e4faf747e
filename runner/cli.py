"""``python -m runner``: the local runner's command line, with verbs that mirror pachctl.

The stable Python entry is ``main(argv) -> int`` (exit status), usable in-process by tests
and benchmarks: ``main(["--state", "/tmp/pfs", "run"])``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from runner.datums import UnsupportedInput, compute_datums
from runner.graph import mermaid
from runner.jobs import JobFailed, last_line, run_pipelines, task_inputs
from runner.loop import up
from runner.putfile import delete_file, put_file
from runner.spec import Spec, SpecError, load_specs, parse_spec
from runner.state import State, StateError, now_iso
from runner.workers import PYTHON_RE, Task, datum_env, map_pfs, stage_inputs

DESCRIPTION = """\
Run Pachyderm pipeline specs on this machine, with Pachyderm's semantics: repos with commits
and provenance, datums from globs (cross, union), unchanged datums skipped, outputs merged.
State lives in --state, or $PFS_STATE, or ./.pfs; the head of a repo's master branch is the
plain folder $PFS_STATE/<repo>/master/.

typical session (what `make pipeline` does):
  python -m runner update pipeline -f specs/
  python -m runner put file -r raw@master:/ -f data/sample
  python -m runner run
  python -m runner list job
  ls .pfs/ingest/master/stocks
"""

EXAMPLES = {
    "create repo": "python -m runner create repo raw",
    "create pipeline": (
        "python -m runner create pipeline -f specs/ingest.json\n  python -m runner create pipeline -f specs/"
    ),
    "update pipeline": (
        "python -m runner update pipeline -f specs/\n"
        "  python -m runner update pipeline -f specs/train.json --reprocess"
    ),
    "put file": (
        "python -m runner put file -r raw@master:/ -f data/sample\n"
        "  python -m runner put file raw@master:/ -f stock-market-dataset.zip\n"
        "  python -m runner put file raw@master:/stocks/AAPL.csv -f AAPL.csv"
    ),
    "list repo": "python -m runner list repo",
    "list commit": "python -m runner list commit ingest\n  python -m runner list commit raw@master --json",
    "list job": "python -m runner list job\n  python -m runner list job -p ingest --json",
    "list datum": "python -m runner list datum ingest            (the pipeline's latest job)\n"
    "  python -m runner list datum ingest@3f2a9c  (a job id or prefix)",
    "list pipeline": "python -m runner list pipeline",
    "list file": "python -m runner list file ingest@master:/stocks",
    "inspect commit": "python -m runner inspect commit train@master --json",
    "inspect job": "python -m runner inspect job 3f2a9c",
    "inspect pipeline": "python -m runner inspect pipeline ingest",
    "get file": "python -m runner get file train@master:/metrics.json\n"
    "  python -m runner get file ingest@master:/stocks/AAPL.parquet -o AAPL.parquet",
    "logs": "python -m runner logs -p ingest\n  python -m runner logs --job 3f2a9c --datum 0a1b2c3d4e5f6071",
    "delete repo": "python -m runner delete repo raw --force",
    "delete pipeline": "python -m runner delete pipeline train",
    "delete file": "python -m runner delete file raw@master:/stocks/AAPL.csv",
    "run": "python -m runner run\n  PFS_STATE=/tmp/pfs python -m runner run",
    "up": "python -m runner up --port 8000   (Ctrl-C stops; put file in another terminal)",
    "graph": "python -m runner graph -f specs/ > dag.mmd",
    "debug datum": "python -m runner debug datum 3f2a9c 0a1b2c3d4e5f6071",
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state", default=argparse.SUPPRESS, help="state folder (default: $PFS_STATE or .pfs)"
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="say more")
    top = argparse.ArgumentParser(
        prog="python -m runner",
        description=DESCRIPTION,
        epilog="one example per verb:\n  "
        + "\n  ".join(v.split("\n")[0] for v in EXAMPLES.values())
        + "\n\nEach verb explains itself: python -m runner <verb> [<what>] --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    verbs = top.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_: str) -> argparse._SubParsersAction:
        examples = "\n  ".join(v for k, v in EXAMPLES.items() if k.startswith(f"{name} "))
        p = verbs.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"examples:\n  {examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return p.add_subparsers(dest="noun", required=True, metavar="WHAT")

    def sub(group: Any, parent: str, name: str, help_: str) -> argparse.ArgumentParser:
        key = f"{parent} {name}".strip()
        return group.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {EXAMPLES[key]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )

    def single(name: str, help_: str) -> argparse.ArgumentParser:
        return sub(verbs, "", name, help_)

    create = verb("create", "create a repo or pipelines")
    p = sub(create, "create", "repo", "create an (input) repo")
    p.add_argument("repo")
    p.add_argument("-d", "--description", default="")
    p = sub(create, "create", "pipeline", "create pipelines from a spec file or a folder of *.json specs")
    p.add_argument("-f", "--file", required=True, type=Path, help="spec file or folder")

    update = verb("update", "create or replace pipelines")
    p = sub(
        update,
        "update",
        "pipeline",
        "create or replace pipelines (a changed spec reprocesses on the next run)",
    )
    p.add_argument("-f", "--file", required=True, type=Path, help="spec file or folder")
    p.add_argument("--reprocess", action="store_true", help="reprocess every datum even if unchanged")

    put = verb("put", "add files to a repo")
    p = sub(
        put, "put", "file", "add files to REPO@BRANCH:/PATH from a file, a folder (-r) or a .zip (unpacked)"
    )
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")
    p.add_argument("-f", "--file", required=True, type=Path, help="file, folder or .zip archive")
    p.add_argument("-r", "--recursive", action="store_true", help="put every file below a folder")

    lst = verb("list", "list repos, commits, jobs, datums, pipelines or files")
    p = sub(lst, "list", "repo", "list repos with their head commit")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "commit", "list the commits of REPO[@BRANCH], newest first")
    p.add_argument("target", metavar="REPO[@BRANCH]")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "job", "list jobs, newest first")
    p.add_argument("-p", "--pipeline")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "datum", "list the datums of a job: PIPELINE (latest job), PIPELINE@JOB or JOB")
    p.add_argument("target", metavar="PIPELINE[@JOB]|JOB")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "pipeline", "list pipelines")
    p.add_argument("--json", action="store_true")
    p = sub(lst, "list", "file", "list files at REPO@BRANCH:/PATH")
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")

    inspect = verb("inspect", "show one commit, job or pipeline")
    p = sub(inspect, "inspect", "commit", "show a commit and its provenance (REPO@BRANCH or REPO@COMMIT)")
    p.add_argument("target", metavar="REPO@BRANCH|REPO@COMMIT")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p = sub(inspect, "inspect", "job", "show a job (id or unique prefix)")
    p.add_argument("job")
    p.add_argument("--json", action="store_true")
    p = sub(inspect, "inspect", "pipeline", "show a pipeline's spec and state")
    p.add_argument("pipeline")

    get = verb("get", "read a file of a commit")
    p = sub(get, "get", "file", "print a file of REPO@BRANCH:/PATH (or write it with -o)")
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")
    p.add_argument("-o", "--output", type=Path)

    p = single("logs", "print a job's log, each line tagged with its datum id")
    p.add_argument("-p", "--pipeline", help="latest job of this pipeline")
    p.add_argument("--job", help="job id or prefix")
    p.add_argument("--datum", help="only this datum's lines")

    delete = verb("delete", "delete a repo, a pipeline or files")
    p = sub(delete, "delete", "repo", "delete a repo and its commits")
    p.add_argument("repo")
    p.add_argument("--force", action="store_true", help="even if pipelines read it")
    p = sub(delete, "delete", "pipeline", "delete a pipeline and its output repo")
    p.add_argument("pipeline")
    p.add_argument("--keep-repo", action="store_true", help="keep the output repo")
    p = sub(delete, "delete", "file", "delete a file or folder from REPO@BRANCH (a new commit)")
    p.add_argument("target", metavar="REPO@BRANCH:/PATH")

    p = single("run", "run every pipeline whose inputs have new commits, in DAG order, until none is left")
    p.add_argument("--workers", type=int, help="at most this many workers per job (default: the spec's)")

    p = single("up", "keep running: a job whenever an input gets a commit, services kept up and reloaded")
    p.add_argument("--cores", type=int, help="cores shared by the running jobs (default: every core)")
    p.add_argument("--host", default="127.0.0.1", help="HOST of every service pipeline (default: 127.0.0.1)")
    p.add_argument("--port", help="PORT of every service pipeline (default: its spec's)")

    p = single("graph", "print the DAG of the specs as Mermaid flowchart text")
    p.add_argument("-f", "--file", type=Path, help="spec file or folder (default: the created pipelines)")

    debug = verb("debug", "re-run one datum in the foreground")
    p = sub(debug, "debug", "datum", "stage one datum's inputs, run it in the foreground, keep the folder")
    p.add_argument("job", help="job id or prefix (list job)")
    p.add_argument("datum", help="datum id (list datum, or the failure message)")
    return top


# -- helpers -------------------------------------------------------------------------------------
def parse_target(text: str) -> tuple[str, str, str]:
    """``repo@branch:/path`` → (repo, branch, path); branch defaults to master, path to /."""
    repo_ref, _, path = text.partition(":")
    repo, _, ref = repo_ref.partition("@")
    if not repo:
        raise StateError(f"{text!r}: expected REPO@BRANCH:/PATH")
    return repo, ref or "master", path or "/"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return (
        "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"
    )


def _say(args: argparse.Namespace, text: str) -> None:
    print(text, flush=True)


# -- verbs ---------------------------------------------------------------------------------------
def _register(state: State, specs: list[Spec], replace: bool, reprocess: bool, verbose: bool) -> list[str]:
    out = []
    names = {s.name for s in specs}
    existing = {r["name"] for r in state.list_pipelines()}
    if not replace:
        clash = sorted(names & existing)
        if clash:
            raise StateError(f"pipeline {clash[0]!r} already exists (use: python -m runner update pipeline)")
    for spec in specs:
        if verbose and spec.ignored:
            out.append(f"{spec.name}: cluster-only fields ignored locally: {', '.join(spec.ignored)}")
        for repo in spec.input_repos:
            if repo not in names | existing and state.create_repo(repo):
                out.append(f"created input repo {repo}")
        if state.has_repo(spec.name) and state.repo_info(spec.name).get("type") != "output":
            if state.branches(spec.name):
                raise StateError(f"pipeline {spec.name!r}: a repo of that name exists and is not its output")
            state.delete_repo(spec.name)  # an empty repo made for a pipeline read before it was created
        state.create_repo(spec.name, kind="output", description=f"output of pipeline {spec.name}")
        old = None if spec.name not in existing else state.pipeline(spec.name)
        record = {
            "name": spec.name,
            "path": spec.path,
            "spec": spec.raw,
            "spec_hash": spec.spec_hash,
            "created": (old or {}).get("created") or now_iso(),
            "updated": now_iso(),
            "reprocess_salt": os.urandom(8).hex() if reprocess else (old or {}).get("reprocess_salt", ""),
        }
        if old and old["spec"] == spec.raw and not reprocess:
            out.append(f"{spec.name}: unchanged")
            continue
        state.save_pipeline(record)
        out.append(f"{spec.name}: {'updated' if old else 'created'} ({spec.path})")
    return out


def cmd_create_update(args: argparse.Namespace, state: State) -> int:
    specs = load_specs(args.file)
    with state.locked():
        for line in _register(
            state, specs, args.verb == "update", getattr(args, "reprocess", False), args.verbose
        ):
            _say(args, line)
    return 0


def cmd_create_repo(args: argparse.Namespace, state: State) -> int:
    with state.locked():
        if not state.create_repo(args.repo, description=args.description):
            raise StateError(f"repo {args.repo!r} already exists")
    _say(args, f"created repo {args.repo}")
    return 0


def cmd_put_file(args: argparse.Namespace, state: State) -> int:
    repo, branch, path = parse_target(args.target)
    with state.locked():
        if not state.has_repo(repo):
            state.create_repo(repo)
            _say(args, f"created repo {repo}")
        elif state.repo_info(repo).get("type") == "output":
            raise StateError(f"{repo} is the output repo of a pipeline: only its jobs commit to it")
    commit = put_file(state, repo, branch, path, args.file, args.recursive)  # locks only to commit
    if commit is None:
        _say(args, f"{repo}@{branch}: no change, content identical to the head; no new commit")
    else:
        _say(args, f"{repo}@{branch}: commit {commit.id} ({commit.files} files, {_size(commit.size_bytes)})")
    return 0


def _commit_json(state: State, repo: str, commit_id: str) -> dict[str, Any]:
    doc = state.commit(repo, commit_id).to_json()
    doc["provenance"] = [{"repo": p["repo"], "commit": p["commit"]} for p in doc["provenance"]]
    return doc


def cmd_list(args: argparse.Namespace, state: State) -> int:
    noun = args.noun
    if noun == "repo":
        docs = []
        for repo in state.list_repos():
            info = state.repo_info(repo)
            head = state.head(repo)
            c = state.commit(repo, head) if head else None
            docs.append(
                {
                    "name": repo,
                    "type": info.get("type"),
                    "created": info.get("created"),
                    "head": head,
                    "files": c.files if c else 0,
                    "size_bytes": c.size_bytes if c else 0,
                }
            )
        if args.json:
            print(json.dumps(docs, indent=1))
        else:
            rows = [["NAME", "TYPE", "CREATED", "HEAD", "FILES", "SIZE"]]
            rows += [
                [
                    d["name"],
                    d["type"],
                    d["created"],
                    d["head"] or "-",
                    str(d["files"]),
                    _size(d["size_bytes"]),
                ]
                for d in docs
            ]
            print(_table(rows), end="")
    elif noun == "commit":
        repo, branch, _ = parse_target(args.target)
        state.require_repo(repo)
        commits = state.commit_history(repo, branch)
        if args.json:
            print(json.dumps([_commit_json(state, repo, c.id) for c in commits], indent=1))
        else:
            rows = [["REPO", "BRANCH", "COMMIT", "CREATED", "FILES", "SIZE", "PROVENANCE"]]
            for c in commits:
                prov = ", ".join(f"{p['repo']}@{p['commit'][:12]}" for p in c.provenance) or "-"
                rows.append([repo, c.branch, c.id, c.created, str(c.files), _size(c.size_bytes), prov])
            print(_table(rows), end="")
    elif noun == "job":
        jobs = list(reversed(state.list_jobs(args.pipeline)))
        if args.json:
            print(json.dumps(jobs, indent=1))
        else:
            rows = [
                ["JOB", "PIPELINE", "STARTED", "STATE", "DATUMS", "PROCESSED", "SKIPPED", "FAILED", "SECONDS"]
            ]
            for j in jobs:
                d = j.get("datums", {})
                if j["state"] == "running" and not _alive(j.get("pid")):
                    j["state"] = "killed"  # its runner died; the next changing verb records it
                rows.append(
                    [j["id"], j["pipeline"], j["started"], j["state"], str(d.get("total", "")),
                     str(d.get("processed", "")), str(d.get("skipped", "")), str(d.get("failed", "")),
                     str(j.get("seconds", ""))]
                )  # fmt: skip
            print(_table(rows), end="")
    elif noun == "datum":
        job = _job_of(state, args.target)
        path = state.job_dir(job["id"]) / "datums.json"
        rows_doc = json.loads(path.read_text()) if path.exists() else []
        if args.json:
            print(json.dumps(rows_doc, indent=1))
        else:
            rows = [["DATUM", "STATE", "INPUTS"]]
            rows += [
                [d["id"], d["state"], ", ".join(f"{i['name']}:{i['matched']}" for i in d["inputs"])]
                for d in rows_doc
            ]
            print(_table(rows), end="")
    elif noun == "pipeline":
        records = state.list_pipelines()
        if args.json:
            print(json.dumps(records, indent=1))
        else:
            rows = [["NAME", "INPUT", "SPEC", "UPDATED", "LAST JOB"]]
            for r in records:
                spec = parse_spec(r["spec"], r["path"])
                jobs = state.list_jobs(r["name"])
                last = f"{jobs[-1]['state']} {jobs[-1]['id'][:12]}" if jobs else "-"
                inputs = (
                    ", ".join(f"{p.repo}:{p.glob}" for p in spec.input.pfs_inputs()) if spec.input else "-"
                )
                rows.append([r["name"], inputs, r["path"], r["updated"], last])
            print(_table(rows), end="")
    elif noun == "file":
        repo, branch, path = parse_target(args.target)
        manifest = state.manifest(repo, state.resolve_commit(repo, branch))
        prefix = path.rstrip("/") + "/"
        entries: dict[str, tuple[str, int]] = {}
        for p, (_, size) in sorted(manifest.items()):
            if p == path:
                entries[p] = ("file", size)
            elif p.startswith(prefix):
                rest = p[len(prefix) :]
                child = prefix + rest.split("/")[0]
                kind = "dir" if "/" in rest else "file"
                old = entries.get(child, (kind, 0))
                entries[child] = (kind, old[1] + size if kind == "dir" else size)
        if not entries:
            raise StateError(f"{args.target}: no such file or folder")
        print(
            _table([["NAME", "TYPE", "SIZE"]] + [[p, k, _size(s)] for p, (k, s) in entries.items()]), end=""
        )
    return 0


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job_of(state: State, target: str) -> dict[str, Any]:
    """``PIPELINE`` (latest job), ``PIPELINE@JOB`` or ``JOB``."""
    name, _, ref = target.partition("@")
    if ref:
        return state.job(ref)
    jobs = state.list_jobs(name)
    if jobs:
        return jobs[-1]
    return state.job(name)


def cmd_inspect(args: argparse.Namespace, state: State) -> int:
    if args.noun == "commit":
        repo, ref, _ = parse_target(args.target)
        doc = _commit_json(state, repo, state.resolve_commit(repo, ref))
        if args.json:
            print(json.dumps(doc, indent=1))
        else:
            for key in (
                "id",
                "repo",
                "branch",
                "parents",
                "created",
                "files",
                "size_bytes",
                "spec_hash",
                "job",
            ):
                print(f"{key + ':':<12} {doc[key]}")
            print("provenance:" + ("" if doc["provenance"] else " (none: an input commit)"))
            for p in doc["provenance"]:
                print(f"  {p['repo']}@{p['commit']}")
    elif args.noun == "job":
        job = state.job(args.job)
        if args.json:
            print(json.dumps(job, indent=1))
        else:
            for key, value in job.items():
                print(f"{key + ':':<15} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    else:
        record = state.pipeline(args.pipeline)
        print(json.dumps(record, indent=1))
    return 0


def cmd_get_file(args: argparse.Namespace, state: State) -> int:
    repo, ref, path = parse_target(args.target)
    commit_id = state.resolve_commit(repo, ref)
    manifest = state.manifest(repo, commit_id)
    if path not in manifest:
        folder = any(p.startswith(path.rstrip("/") + "/") for p in manifest)
        why = "is a folder (see: python -m runner list file)" if folder else "no such file"
        raise StateError(f"{args.target}: {why}")
    src = state.objects.path(manifest[path][0])
    if args.output:
        shutil.copyfile(src, args.output)
    else:
        with open(src, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return 0


def cmd_logs(args: argparse.Namespace, state: State) -> int:
    if args.job:
        job = state.job(args.job)
    else:
        jobs = state.list_jobs(args.pipeline)
        if not jobs:
            raise StateError("no jobs yet" + (f" for pipeline {args.pipeline}" if args.pipeline else ""))
        job = jobs[-1]
    path = state.job_dir(job["id"]) / "job.log"
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not args.datum or line.startswith(args.datum):
                sys.stdout.write(line)
    return 0


def cmd_delete(args: argparse.Namespace, state: State) -> int:
    with state.locked():
        readers = {r["name"]: parse_spec(r["spec"], r["path"]).input_repos for r in state.list_pipelines()}
        if args.noun == "repo":
            users = [n for n, repos in readers.items() if args.repo in repos]
            if args.repo in readers:
                raise StateError(f"{args.repo} is the output of a pipeline: delete the pipeline instead")
            if users and not args.force:
                raise StateError(
                    f"pipelines {', '.join(users)} read {args.repo}; add --force to delete it anyway"
                )
            state.delete_repo(args.repo)
            _say(args, f"deleted repo {args.repo}")
        elif args.noun == "pipeline":
            users = [n for n, repos in readers.items() if args.pipeline in repos]
            if users:
                raise StateError(f"pipelines {', '.join(users)} read {args.pipeline}; delete them first")
            state.delete_pipeline(args.pipeline)
            if not args.keep_repo and state.has_repo(args.pipeline):
                state.delete_repo(args.pipeline)
            _say(args, f"deleted pipeline {args.pipeline}")
        else:
            repo, branch, path = parse_target(args.target)
            if repo in readers:
                raise StateError(f"{repo} is the output repo of a pipeline: only its jobs commit to it")
            commit = delete_file(state, repo, branch, path)
            _say(args, f"{repo}@{branch}: commit {commit.id} ({commit.files} files left)")
    return 0


def cmd_run(args: argparse.Namespace, state: State) -> int:
    with state.jobs_locked("run"):
        if args.verbose:
            for record in state.list_pipelines():
                ignored = parse_spec(record["spec"], record["path"]).ignored
                if ignored:
                    _say(args, f"{record['name']}: cluster-only fields ignored locally: {', '.join(ignored)}")
        outcomes = run_pipelines(state, os.getcwd(), sys.stdout, max_workers=args.workers)
    if not outcomes:
        _say(args, "nothing to do: every pipeline is up to date with its inputs")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        if args.verbose:  # every failed datum, not only the first
            for datum in state.job(o.job_id).get("failed_datums", []):
                inputs = ", ".join(datum["inputs"])
                print(f"  failed datum {datum['datum']} ({inputs}): {datum['error']}", file=sys.stderr)
        print(f"runner: {o.reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_up(args: argparse.Namespace, state: State) -> int:
    overrides = {k: v for k, v in (("HOST", args.host), ("PORT", args.port)) if v}
    return up(state, os.getcwd(), sys.stdout, cores=args.cores, service_overrides=overrides)


def cmd_graph(args: argparse.Namespace, state: State) -> int:
    if args.file:
        specs = load_specs(args.file)
    else:
        specs = [parse_spec(r["spec"], r["path"]) for r in state.list_pipelines()]
        if not specs:
            raise StateError("no pipelines created yet; pass the specs with -f specs/")
    sys.stdout.write(mermaid(specs))
    return 0


def cmd_debug_datum(args: argparse.Namespace, state: State) -> int:
    job = state.job(args.job)
    record = state.pipeline(job["pipeline"])
    spec = parse_spec(record["spec"], record["path"])
    heads = {i["repo"]: i["commit"] for i in job["inputs"]}
    manifests = {repo: state.manifest(repo, commit) for repo, commit in heads.items()}
    datums = {d.id: d for d in compute_datums(spec.input, heads, manifests, "")} if spec.input else {}
    matches = [d for did, d in datums.items() if did.startswith(args.datum)]
    if len(matches) != 1:
        raise StateError(
            f"datum {args.datum!r} is not a datum of job {job['id']} "
            f"(see: python -m runner list datum {job['id'][:12]})"
        )
    datum = matches[0]
    root = state.root / ".debug" / datum.id
    shutil.rmtree(root, ignore_errors=True)
    task = Task(datum.id, 1, task_inputs(state, datum))
    pfs_root = root / "pfs"
    stage_inputs(task, pfs_root)
    from runner.workers import JobConfig

    config = JobConfig(
        job["id"], spec.name, spec.cmd, spec.stdin, spec.env, None, (), os.getcwd(), "", str(root)
    )
    env = datum_env(config, task, str(pfs_root))
    cmd = [map_pfs(a, str(pfs_root)) for a in spec.cmd]
    if PYTHON_RE.match(os.path.basename(cmd[0])):
        cmd[0] = sys.executable
    stdin = "".join(map_pfs(line, str(pfs_root)) + "\n" for line in spec.stdin) if spec.stdin else None
    print(f"datum {datum.id} ({datum.describe()}) staged at {pfs_root}", file=sys.stderr)
    print(f"running: {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, input=stdin.encode() if stdin else None, env=env, cwd=os.getcwd(), check=False)
    print(
        f"exit status {proc.returncode}; output in {pfs_root / 'out'} (kept for inspection)", file=sys.stderr
    )
    return 0 if proc.returncode == 0 else 1


HANDLERS = {
    "create": lambda a, s: cmd_create_repo(a, s) if a.noun == "repo" else cmd_create_update(a, s),
    "update": cmd_create_update,
    "put": cmd_put_file,
    "list": cmd_list,
    "inspect": cmd_inspect,
    "get": cmd_get_file,
    "logs": cmd_logs,
    "delete": cmd_delete,
    "run": cmd_run,
    "up": cmd_up,
    "graph": cmd_graph,
    "debug": cmd_debug_datum,
}


def main(argv: list[str] | None = None) -> int:
    """Run one verb; returns the exit status (0 ok, 1 failed, 2 invalid spec or usage, 130 interrupted)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    args.verbose = getattr(args, "verbose", False)
    state = State(getattr(args, "state", None) or os.environ.get("PFS_STATE") or ".pfs")
    try:
        return HANDLERS[args.verb](args, state)
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except (StateError, JobFailed, UnsupportedInput) as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("runner: interrupted; finished datums are kept and reused by the next run", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


__all__ = ["last_line", "main"]
