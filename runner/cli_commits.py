"""The branch and commit-waiting verbs of ``python -m runner``: ``list branch`` and ``wait commit``."""

from __future__ import annotations

import argparse
import sys

from runner.cli_output import print_json, table
from runner.cli_parser import parse_target
from runner.state import State, StateError
from runner.waiting import wait_commit


def list_branch(args: argparse.Namespace, state: State) -> None:
    state.require_repo(args.repo)
    docs = [{"branch": b, "head": state.head(args.repo, b)} for b in state.branches(args.repo)]
    if args.json:
        print_json(docs)
        return
    print(table([["BRANCH", "HEAD"]] + [[d["branch"], d["head"] or "-"] for d in docs]), end="")


def wait_commit_verb(args: argparse.Namespace, state: State) -> int:
    repo, ref, _ = parse_target(args.target)

    def pending(names: list[str]) -> None:
        print(f"waiting for {', '.join(names)}", file=sys.stderr, flush=True)

    outcome = wait_commit(state, repo, ref, timeout=args.timeout, on_pending=pending)
    if args.json:
        print_json({"finished": outcome.finished, "failed": outcome.failed})
    else:
        for name, commit in outcome.finished.items():
            print(f"{name}@{commit}")
    if outcome.failed:
        for name, why in outcome.failed.items():
            print(f"runner: {name}: {why}", file=sys.stderr)
        raise StateError(f"wait commit {args.target}: {len(outcome.failed)} pipeline(s) failed downstream")
    return 0
