"""``python -m runner``: the local runner's command line, with verbs that mirror pachctl.

Each verb parses its arguments (cli_parser.py), calls one function that does the work
(pipelines.py, jobs.py, debug.py, state.py, putfile.py) and prints the result. The stable
Python entry is ``main(argv) -> int`` (exit status), usable in-process by tests and
benchmarks: ``main(["--state", "/tmp/pfs", "run"])``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from typing import Any

from runner import capabilities, cli_commits, cli_files, cli_jobs, pipelines
from runner.cli_output import human_size, print_json, table
from runner.cli_parser import build_parser, parse_target
from runner.datums import UnsupportedInput
from runner.executors import executor_for
from runner.fsck import fsck
from runner.gc import collect_garbage
from runner.graph import mermaid
from runner.jobs import JobFailed, last_line, run_pipelines
from runner.paths import check_input_heads
from runner.spec import Spec, SpecError, load_specs
from runner.state import State, StateError


# -- verbs ---------------------------------------------------------------------------------------
def _say(text: str) -> None:
    print(text, flush=True)


def _ignored_notes(specs: list[Spec]) -> list[str]:
    notes = []
    for s in specs:
        ignored = [f for f in s.ignored if f not in capabilities.HONOURED]
        if ignored:
            notes.append(f"{s.name}: cluster-only fields ignored locally: {', '.join(ignored)}")
    return notes


def cmd_create_update(args: argparse.Namespace, state: State) -> int:
    specs = load_specs(args.file)
    capabilities.check_supported(specs)
    with state.locked():
        for spec in specs:
            for line in capabilities.notes(spec):
                _say(line)
        if args.verbose:
            for line in _ignored_notes(specs):
                _say(line)
        for line in pipelines.save_pipelines(
            state, specs, replace=args.verb == "update", reprocess=getattr(args, "reprocess", False)
        ):
            _say(line)
    return 0


def cmd_create_repo(args: argparse.Namespace, state: State) -> int:
    with state.locked():
        if not state.create_repo(args.repo, description=args.description):
            raise StateError(f"repo {args.repo!r} already exists")
    _say(f"created repo {args.repo}")
    return 0


def _commit_json(state: State, repo: str, commit_id: str) -> dict[str, Any]:
    """A commit as ``inspect commit --json`` shows it: ``provenance`` is every commit it was made
    from, through every pipeline back to the input repos; ``direct_provenance`` its job's inputs."""
    doc = state.commit(repo, commit_id).to_json()
    doc["direct_provenance"] = [{"repo": p["repo"], "commit": p["commit"]} for p in doc["provenance"]]
    doc["provenance"] = [
        {"repo": p["repo"], "commit": p["commit"]} for p in state.full_provenance(repo, commit_id)
    ]
    return doc


def _list_repo(args: argparse.Namespace, state: State) -> None:
    docs = []
    for repo in state.list_repos():
        info = state.repo_info(repo)
        head = state.head(repo)
        c = state.commit(repo, head) if head else None
        docs.append(
            {"name": repo, "type": info.kind.value, "created": info.created, "head": head,
             "files": c.files if c else 0, "size_bytes": c.size_bytes if c else 0}
        )  # fmt: skip
    if args.json:
        print_json(docs)
        return
    rows = [["NAME", "TYPE", "CREATED", "HEAD", "FILES", "SIZE"]]
    rows += [
        [d["name"], d["type"], d["created"], d["head"] or "-", str(d["files"]), human_size(d["size_bytes"])]
        for d in docs
    ]
    print(table(rows), end="")


def _list_commit(args: argparse.Namespace, state: State) -> None:
    repo, branch, _ = parse_target(args.target)
    if "@" not in args.target and not state.has_repo(repo):
        commits = state.commit_set(args.target)  # ``list commit <id>``: the commit set
    else:
        state.require_repo(repo)
        commits = state.commit_history(repo, branch)
    if args.json:
        print_json([_commit_json(state, c.repo, c.id) for c in commits])
        return
    rows = [["REPO", "BRANCH", "COMMIT", "CREATED", "FILES", "SIZE", "PROVENANCE"]]
    for c in commits:
        prov = ", ".join(f"{p['repo']}@{p['commit'][:12]}" for p in c.provenance) or "-"
        rows.append([c.repo, c.branch, c.id, c.created, str(c.files), human_size(c.size_bytes), prov])
    print(table(rows), end="")


def _list_datum(args: argparse.Namespace, state: State) -> None:
    datums = state.datum_list(cli_jobs.job_of(state, args.target).id)
    if args.json:
        print_json([d.to_json() for d in datums])
        return
    rows = [["DATUM", "STATE", "INPUTS"]]
    rows += [[d.id, d.state.value, ", ".join(f"{i.name}:{i.matched}" for i in d.inputs)] for d in datums]
    print(table(rows), end="")


def _list_pipeline(args: argparse.Namespace, state: State) -> None:
    records = state.list_pipelines()
    if args.json:
        print_json([r.to_json() for r in records])
        return
    rows = [["NAME", "INPUT", "SPEC", "UPDATED", "LAST JOB"]]
    for r in records:
        jobs = state.list_jobs(r.name)
        last = f"{jobs[-1].state.value} {jobs[-1].id[:12]}" if jobs else "-"
        pfs_inputs = r.spec.input.pfs_inputs() if r.spec.input else []
        inputs = ", ".join(f"{p.repo}:{p.glob}" for p in pfs_inputs) or "-"
        rows.append([r.name, inputs, r.path, r.updated, last])
    print(table(rows), end="")


LISTERS = {
    "repo": _list_repo,
    "commit": _list_commit,
    "job": cli_jobs.list_job,
    "branch": cli_commits.list_branch,
    "datum": _list_datum,
    "pipeline": _list_pipeline,
    "file": cli_files.list_file,
}


def cmd_list(args: argparse.Namespace, state: State) -> int:
    LISTERS[args.noun](args, state)
    return 0


INSPECTORS = {
    "job": cli_jobs.inspect_job,
    "datum": cli_jobs.inspect_datum,
    "file": cli_files.inspect_file_verb,
}


def cmd_inspect(args: argparse.Namespace, state: State) -> int:
    if args.noun == "commit":
        repo, ref, _ = parse_target(args.target)
        doc = _commit_json(state, repo, state.resolve_commit(repo, ref))
        if args.json:
            print_json(doc)
            return 0
        for key in ("id", "repo", "branch", "parents", "created", "files", "size_bytes", "spec_hash", "job"):
            print(f"{key + ':':<12} {doc[key]}")
        print("provenance:" + ("" if doc["provenance"] else " (none: an input commit)"))
        direct = {(p["repo"], p["commit"]) for p in doc["direct_provenance"]}
        for p in doc["provenance"]:
            how = "" if (p["repo"], p["commit"]) in direct else "  (through an upstream pipeline)"
            print(f"  {p['repo']}@{p['commit']}{how}")
    elif args.noun in INSPECTORS:
        return INSPECTORS[args.noun](args, state)
    else:
        print_json(state.pipeline(args.pipeline).to_json())
    return 0


def cmd_delete(args: argparse.Namespace, state: State) -> int:
    with state.locked():
        if args.noun == "repo":
            pipelines.delete_repo(state, args.repo, force=args.force)
            _say(f"deleted repo {args.repo}")
        elif args.noun == "pipeline":
            pipelines.delete_pipeline(state, args.pipeline, keep_repo=args.keep_repo)
            _say(f"deleted pipeline {args.pipeline}")
        else:
            repo, branch, path = parse_target(args.target)
            commit = pipelines.delete_input_file(state, repo, branch, path)
            _say(f"{repo}@{branch}: commit {commit.id} ({commit.files} files left)")
    return 0


def cmd_run(args: argparse.Namespace, state: State) -> int:
    with state.jobs_locked("run"):
        check_input_heads(state)
        specs = [r.spec for r in state.list_pipelines()]
        for line in [n for spec in specs for n in capabilities.notes(spec)]:
            _say(line)
        if args.verbose:
            for line in _ignored_notes(specs):
                _say(line)
        outcomes = run_pipelines(
            state, os.getcwd(), sys.stdout, max_workers=args.workers, executor=executor_for(args.executor)
        )
    if not outcomes:
        _say("nothing to do: every pipeline is up to date with its inputs")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        if args.verbose:  # every failed datum, not only the first
            for datum in state.job(o.job_id).failed_datums:
                inputs = ", ".join(datum.inputs)
                print(f"  failed datum {datum.datum} ({inputs}): {datum.error}", file=sys.stderr)
        print(f"runner: {o.reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_graph(args: argparse.Namespace, state: State) -> int:
    if args.file:
        specs = load_specs(args.file)
    else:
        specs = [r.spec for r in state.list_pipelines()]
        if not specs:
            raise StateError("no pipelines created yet; pass the specs with -f specs/")
    sys.stdout.write(mermaid(specs))
    return 0


def cmd_fsck(args: argparse.Namespace, state: State) -> int:
    # a repair must not race a job's or a put's writes: it also holds the jobs lock
    with state.jobs_locked("fsck") if args.repair else contextlib.nullcontext(), state.locked():
        report = fsck(state, repair=args.repair)
    for line in report.repaired:
        _say(f"repaired: {line}")
    for problem in report.problems:
        print(f"runner fsck: {problem.line()}", file=sys.stderr)
    for note in report.notes:
        _say(f"note: {note}")
    _say(report.summary())
    return 0 if report.ok else 1


def cmd_gc(args: argparse.Namespace, state: State) -> int:
    # no job may be writing outputs not yet committed; collect_garbage refuses while a put runs
    with state.jobs_locked("gc"), state.locked():
        result = collect_garbage(state)
    _say(
        f"gc: removed {result.objects_removed} unreferenced object(s) ({human_size(result.bytes_freed)}) "
        f"and {result.temporaries_removed} temporary file(s); {result.objects_kept} objects kept"
    )
    return 0


def _os_error_line(exc: OSError) -> str:
    """One line for a failed read or write of the state folder (read-only, full disk, ...)."""
    where = exc.filename or "the state folder"
    hints = {
        errno.ENOSPC: "the disk is full: free some space, then run: python -m runner gc",
        errno.EDQUOT: "the disk quota is exhausted: free some space, then run: python -m runner gc",
        errno.EROFS: "the file system is read-only: use a writable --state folder",
        errno.EACCES: "permission denied: use a --state folder you can write",
        errno.EPERM: "operation not permitted: use a --state folder you can write",
    }
    hint = hints.get(exc.errno or 0, "nothing was committed; fix the cause and run the verb again")
    return f"{where}: {exc.strerror or exc}; {hint}"


HANDLERS = {
    "create": lambda a, s: cmd_create_repo(a, s) if a.noun == "repo" else cmd_create_update(a, s),
    "update": cmd_create_update,
    "put": cli_files.put_file,
    "list": cmd_list,
    "inspect": cmd_inspect,
    "get": cli_files.get_file,
    "glob": cli_files.glob_file,
    "diff": cli_files.diff_file,
    "wait": cli_commits.wait_commit_verb,
    "logs": cli_jobs.logs,
    "delete": cmd_delete,
    "run": cmd_run,
    "up": cli_jobs.up_verb,
    "graph": cmd_graph,
    "debug": cli_jobs.debug_datum,
    "fsck": cmd_fsck,
    "gc": cmd_gc,
}


def main(argv: list[str] | None = None) -> int:
    """Run one verb; returns the exit status (0 ok, 1 failed, 2 invalid spec or usage, 130 interrupted)."""
    try:
        args = build_parser().parse_args(argv)
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
    except KeyboardInterrupt as exc:  # a put's PutInterrupted says what it left; a run keeps its datums
        why = str(exc) or "interrupted; finished datums are kept and reused by the next run"
        print(f"runner: {why}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:  # the state folder cannot be written or read (read-only, full, removed)
        print(f"runner: {_os_error_line(exc)}", file=sys.stderr)
        return 1


__all__ = ["last_line", "main"]
