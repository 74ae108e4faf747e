"""Worker processes that run datums: warm (``python -m module`` in-process) or as subprocesses.

A pool of long-lived processes, forked once per job, receives datums in batches over a pipe
and answers one result per datum. A command ``python3 -m <module> args...`` (no ``stdin``)
runs inside the worker as a fresh ``__main__`` (``runner.warm``, what ``runpy`` does), so the
module's imports (pandas, pyarrow...) are paid once per worker, not once per datum;
any other command runs as a subprocess. For each datum the worker stages the input files
(hard links into the object store) under ``<datum root>/pfs/<input name>/<path>``, maps the
spec's ``/pfs`` to ``<datum root>/pfs`` in cmd, stdin and env, redirects fds 1 and 2 to the
datum's log, runs the code (and ``errCmd`` if it fails), and moves the files of ``/pfs/out``
into the object store.

As Pachyderm's worker does (src/server/worker/datum/datum.go ``withData``), every datum sees only
its own inputs and an empty ``/pfs/out``: the staging folders are reused from datum to datum
(creating them was the per-datum cost), but whatever a datum left, files or folders, in
``/pfs/out`` or beside its inputs, is removed before the next one. The ``<datum root>`` a datum
sees is a path with no hidden component (``/tmp/stockpipe-pfs-<uid>/<job>/worker-<pid>``, a
symlink to the staging folder in the state folder, on the object store's filesystem):
``find /pfs -not -path "*/.*"`` finds the datum's files, as on a cluster.

No stage process outlives the runner: a job's processes form one process group whose leader,
a small guard process (``GroupGuard``), kills the whole group when the runner's end of its
pipe closes (the runner finished, or was killed, even by SIGKILL); workers and subprocess
datums also ask the kernel for SIGKILL when their parent dies (``die_with_parent``). Every one
of them holds the state lock's descriptor until it exits, so the next changing verb cannot
start beside a leftover. A stage process that leaves the group (``setsid``) escapes the guard,
but still holds the lock until it exits.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from runner.children import die_with_parent
from runner.datum_log import DatumLog
from runner.objects import ObjectStore, link_or_copy
from runner.pause_clock import DatumClock, timed_out_message
from runner.standby import ImportRecorder
from runner.visible import make_link, remove_link
from runner.warm import PYTHON_RE, TIMED_OUT_WORKER_EXIT, WarmRunner, streams_on_fds, warm_module

PFS_RE = re.compile(r"(?<![\w./-])/pfs(?=/|$|[^\w.-])")


@dataclass(frozen=True)
class JobConfig:
    """What every datum of one job shares; sent to each worker once."""

    job_id: str
    pipeline: str
    cmd: tuple[str, ...]
    stdin: tuple[str, ...]
    env: dict[str, str]
    timeout: float | None
    accept_return_codes: tuple[int, ...]
    cwd: str
    store_root: str
    work_root: str
    #: descriptors of the state lock: workers inherit them, subprocess datums get them, so the lock
    #: stays held until the last stage process of the job has exited
    lock_fds: tuple[int, ...] = ()
    #: the path datums see for ``work_root`` (a symlink to it with no hidden component); "" = work_root
    visible_root: str = ""
    project: str = "default"
    #: the id of the commit the job writes (PACH_OUTPUT_COMMIT_ID)
    output_commit: str = ""
    #: ``transform.errCmd``/``errStdin``: run when ``cmd`` fails; success makes the datum recovered
    err_cmd: tuple[str, ...] = ()
    err_stdin: tuple[str, ...] = ()
    #: ``transform.workingDir`` (``/pfs`` mapped like cmd); "" = ``cwd``
    working_dir: str = ""
    #: names of the inputs whose files are staged empty (``emptyFiles``)
    empty_files: frozenset[str] = frozenset()
    #: the job's pause record (runner/pause_clock.py), written by ``runner up`` when it resumes the
    #: job: ``datumTimeout`` does not count the time paused; "" = none
    pause_file: str = ""
    #: where warm workers record their imports for ``runner up``'s standby jobs (runner/standby.py);
    #: "" = not recorded
    imports_file: str = ""


@dataclass
class Task:
    """One try of one datum."""

    datum_id: str
    attempt: int
    #: input name → (path in the input, object file, matched path, commit id)
    inputs: list[tuple[str, list[tuple[str, str]], str, str]]


@dataclass
class Result:
    datum_id: str
    attempt: int
    ok: bool
    seconds: float
    log: str
    outputs: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: ``cmd`` failed and ``errCmd`` succeeded (``ok`` is False: the datum has no output)
    recovered: bool = False


def map_pfs(text: str, pfs_root: str) -> str:
    """Replace the ``/pfs`` prefix of paths inside ``text`` by ``pfs_root``."""
    return PFS_RE.sub(lambda _m: pfs_root, text)


def job_variables(project: str, pipeline: str, env: dict[str, str], pfs_root: str) -> dict[str, str]:
    """The variables every datum of a job sets (the start of ``datum_overrides``): the worker pod's
    ``PPS_PROJECT_NAME``, ``PPS_PIPELINE_NAME``, then the spec's ``transform.env`` with ``/pfs``
    mapped to ``pfs_root``. A standby imports with them (runner/loop.py)."""
    variables = {"PPS_PROJECT_NAME": project, "PPS_PIPELINE_NAME": pipeline}
    variables.update((k, map_pfs(v, pfs_root)) for k, v in env.items())
    return variables


def datum_overrides(config: JobConfig, task: Task, pfs_root: str) -> dict[str, str]:
    """The variables a datum sets on top of the runner's environment, named as Pachyderm names them:
    the worker pod's ``PPS_PROJECT_NAME``, ``PPS_PIPELINE_NAME`` (src/server/pps/server/worker_rc.go),
    the spec's ``transform.env``, then per datum (src/server/worker/driver/driver.go ``UserCodeEnv``)
    ``<input>`` (its matched path under /pfs) and ``<input>_COMMIT`` for each input,
    ``PACH_DATUM_ID`` (when there are inputs), ``PACH_JOB_ID`` and ``PACH_OUTPUT_COMMIT_ID``."""
    env = job_variables(config.project, config.pipeline, config.env, pfs_root)
    for name, _files, matched, commit in task.inputs:
        env[name] = f"{pfs_root}/{name}{matched if matched != '/' else ''}"
        env[f"{name}_COMMIT"] = commit
    if task.inputs:
        env["PACH_DATUM_ID"] = task.datum_id
    env["PACH_JOB_ID"] = config.job_id
    if config.output_commit:
        env["PACH_OUTPUT_COMMIT_ID"] = config.output_commit
    return env


def _input_files(
    task: Task, pfs_root: str, empty_files: frozenset[str] = frozenset()
) -> tuple[set[str], list[tuple[str, str, bool]]]:
    """The folders and (object, destination, staged empty) links that stage ``task`` under ``pfs_root``."""
    dirs: set[str] = set()
    links = []
    for name, files, _matched, _commit in task.inputs:
        base = f"{pfs_root}/{name}"
        dirs.add(base)
        empty = name in empty_files
        for path, obj in files:
            dst = base + path
            parent = dst.rpartition("/")[0]
            while parent not in dirs and len(parent) > len(base):
                dirs.add(parent)
                parent = parent.rpartition("/")[0]
            links.append((obj, dst, empty))
    return dirs, links


def _link(obj: str, dst: str, empty: bool) -> None:
    """Stage one input file: a hard link to its object, or an empty file of that name (``emptyFiles``:
    the worker downloads with pfssync.WithEmpty, src/server/worker/datum/datum.go ``downloadData``)."""
    if empty:
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))
    else:
        link_or_copy(obj, dst)


class Stager:
    """A datum staging root reused from datum to datum (creating and removing folders is slow).

    ``stage`` links the datum's files in place and creates only the folders the previous datum
    did not have (removing those it had and this one lacks); ``collect`` moves the files of
    ``pfs/out`` into the store and removes its folders; ``clear`` removes every file below
    ``pfs`` and every folder that is not an input folder of the datum, so the next datum finds
    an empty ``pfs/out`` and nothing but its own inputs, as in a fresh folder. ``pfs`` is the
    real folder; datums see it as ``visible_pfs`` (a path with no hidden component).
    """

    def __init__(self, root: Path, visible_root: str = "", empty_files: frozenset[str] = frozenset()) -> None:
        self.root = Path(os.path.realpath(root))  # real paths: an output symlink's target is matched
        self.pfs = self.root / "pfs"
        self.out = self.pfs / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        self.visible_pfs = f"{visible_root}/pfs" if visible_root else str(self.pfs)
        self.log = DatumLog(self.root / "datum.log")
        self.empty_files = empty_files
        self.dirs: set[str] = set()
        #: staged input file → its object (what an output symlink to it stands for)
        self.sources: dict[str, str] = {}
        #: ``pfs`` and the input folders, their mtime set to 0 once staged
        self.watched: list[str] = []

    def stage(self, task: Task) -> None:
        dirs, links = _input_files(task, str(self.pfs), self.empty_files)
        self.out.mkdir(exist_ok=True)  # in case the previous datum's code removed it
        for stale in sorted(self.dirs - dirs, key=len, reverse=True):
            shutil.rmtree(stale, ignore_errors=True)
        for new in sorted(dirs - self.dirs, key=len):
            os.makedirs(new, exist_ok=True)
        self.dirs = dirs
        self.sources = {}
        for obj, dst, empty in links:
            try:
                _link(obj, dst, empty)
            except FileExistsError:  # a union/cross naming the same file twice
                continue
            self.sources[dst] = obj
        # Mark the folders: a datum that adds or removes anything in one changes its mtime (POSIX),
        # which ``clear`` sees with one stat per folder instead of listing it.
        self.watched = [str(self.pfs), *dirs]
        for folder in self.watched:
            os.utime(folder, ns=(0, 0))

    def collect(self, store: ObjectStore) -> dict[str, tuple[str, int]]:
        """Move every file under ``pfs/out`` into the store and remove its sub-folders; returns
        ``{"/path": (digest, size)}``."""
        root = str(self.out)
        outputs = {}
        folders = []
        pending = [root]
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                        folders.append(entry.path)
                    elif entry.is_symlink():
                        outputs.update(self._symlink_outputs(entry.path, entry.path[len(root) :], store))
                    else:
                        outputs[entry.path[len(root) :]] = store.add_move(entry.path)
        for folder in reversed(folders):  # deepest first: each was found after its parent
            os.rmdir(folder)
        return dict(sorted(outputs.items()))

    def _symlink_outputs(self, link: str, path: str, store: ObjectStore) -> dict[str, tuple[str, int]]:
        """The files a symlink in ``/pfs/out`` stands for, as the worker uploads them
        (src/server/worker/datum/datum.go ``handleSymlinks``): a link to a staged input file is that
        input file (its content even when staged empty: ``emptyFiles``), a link to any other file
        that file's content, a link to a folder every file below it."""
        target = os.path.realpath(link)
        if os.path.isdir(target):
            found = {}
            for folder, _dirs, names in os.walk(target, followlinks=True):
                for name in names:
                    full = os.path.join(folder, name)
                    found[path + full[len(target) :]] = self._file_blob(full, store)
            os.unlink(link)
            return found
        blob = self._file_blob(target, store)
        os.unlink(link)
        return {path: blob}

    def _file_blob(self, target: str, store: ObjectStore) -> tuple[str, int]:
        source = self.sources.get(os.path.realpath(target))
        return store.add_copy(source if source is not None else target)

    def clear(self, out_collected: bool = False) -> None:
        """Remove what the datum staged or left: every file below ``pfs``, every folder but the
        input folders (reused by the next datum) and ``pfs/out`` (not walked if ``collect`` just
        emptied it). When the datum changed no folder (every mtime still 0: the common case), only
        the staged files are unlinked; otherwise one ``scandir`` per folder."""
        if out_collected and all(os.stat(folder).st_mtime_ns == 0 for folder in self.watched):
            for path in self.sources:
                os.unlink(path)
            return
        out = str(self.out)
        keep = self.dirs | {out}
        try:
            extra = []
            pending = [str(self.pfs)]
            while pending:
                with os.scandir(pending.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            if not (out_collected and entry.path == out):
                                pending.append(entry.path)
                            if entry.path not in keep:
                                extra.append(entry.path)
                        else:
                            os.unlink(entry.path)
            for folder in reversed(extra):
                os.rmdir(folder)
        except OSError:  # the datum made something unremovable this way (a read-only folder...)
            _force_rmtree(self.pfs)
            self.dirs = set()
            self.out.mkdir(parents=True, exist_ok=True)


def _force_rmtree(path: Path) -> None:
    """Remove ``path`` even where the datum took away write permission from a folder."""
    for folder, _dirs, _files in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def stage_inputs(task: Task, pfs_root: Path, empty_files: frozenset[str] = frozenset()) -> None:
    """Stage ``task`` in a fresh folder (``debug datum``): hard links, plus an empty ``out``."""
    dirs, links = _input_files(task, str(pfs_root), empty_files)
    for d in sorted(dirs, key=len):
        os.makedirs(d, exist_ok=True)
    for obj, dst, empty in links:
        if not os.path.exists(dst):
            _link(obj, dst, empty)
    (pfs_root / "out").mkdir(parents=True, exist_ok=True)


class GroupGuard:
    """The leader of a job's process group: a forked process that only waits for EOF on a pipe whose
    writing end the runner holds, then SIGKILLs its group (every worker, subprocess datum and child
    of one, and itself). The runner closing the pipe, or dying, is what triggers it. The guard
    inherits the state lock too, so the lock is free only once the group is gone."""

    def __init__(self) -> None:
        read_fd, self.write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the guard
            try:
                os.close(self.write_fd)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.setpgid(0, 0)
                while os.read(read_fd, 64):
                    pass
                os.killpg(0, signal.SIGKILL)
            finally:
                os._exit(0)
        os.close(read_fd)
        self.pid = self.pgid = pid
        with contextlib.suppress(OSError):  # also done by the guard itself: whichever runs first
            os.setpgid(pid, pid)

    def adopt(self, pid: int) -> None:
        """Put a freshly forked worker in the group (the worker does the same: no race)."""
        with contextlib.suppress(OSError):
            os.setpgid(pid, self.pgid)

    def close(self) -> None:
        """Stop the group (whatever is left in it) and reap the guard."""
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def run_subprocess(
    config: JobConfig,
    cmd: list[str],
    stdin_lines: tuple[str, ...],
    env: dict[str, str],
    pfs_root: str,
    log: DatumLog,
    cwd: str,
    clock: DatumClock | None = None,
) -> bool:
    """Run ``cmd`` as a subprocess with fds 1/2 on ``log``; ``clock`` (``datumTimeout``) counts its
    running time (the job's pauses recorded in ``config.pause_file`` are given back:
    runner/pause_clock.py)."""
    if PYTHON_RE.match(os.path.basename(cmd[0])):
        cmd = [sys.executable, *cmd[1:]]
    stdin = "".join(map_pfs(line, pfs_root) + "\n" for line in stdin_lines) if stdin_lines else None
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=log.fd,
            stderr=log.fd,
            env=env,
            cwd=cwd,
            pass_fds=config.lock_fds,
            preexec_fn=functools.partial(die_with_parent, signal.SIGKILL, os.getpid()),
        )
    except OSError as exc:
        log.write(f"cannot run {cmd[0]!r}: {exc.strerror}\n")
        return False
    with proc:
        if not _wait_within(proc, stdin.encode() if stdin is not None else None, clock):
            assert clock is not None
            log.write(clock.timed_out_message() + "\n")
            return False
    if proc.returncode == 0 or proc.returncode in config.accept_return_codes:
        return True
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
    if proc.returncode < 0 or log.written() == 0:  # say why, unless the stage already did
        log.write(f"{os.path.basename(cmd[0])}: {how}\n")
    return False


def _wait_within(proc: subprocess.Popen[bytes], stdin: bytes | None, clock: DatumClock | None) -> bool:
    """Feed ``stdin`` to ``proc`` and wait for it to exit; False (and ``proc`` killed) once ``clock``
    has no running time left. A wait that ends while time is left (the job was paused meanwhile)
    waits again for what is left; ``communicate`` keeps what it had not yet written."""
    try:
        while True:
            try:
                proc.communicate(stdin, timeout=clock.time_left() if clock is not None else None)
                return True
            except subprocess.TimeoutExpired:
                stdin = None  # already handed to communicate, which goes on writing it
                assert clock is not None
                if clock.time_left() > 0:
                    continue
                proc.kill()
                proc.wait()
                return False
    except BaseException:  # as subprocess.run does: an interrupted wait leaves no datum running
        proc.kill()
        raise


def working_dir(config: JobConfig, pfs_root: str) -> str:
    """Where a datum's code runs: ``transform.workingDir`` (``/pfs`` mapped, a relative one under the
    runner's folder, as Pachyderm joins it to the container's root: driver.go ``RunUserCode``), else
    the folder the runner was started in (the stand-in for the image's working directory)."""
    if not config.working_dir:
        return config.cwd
    return os.path.join(config.cwd, map_pfs(config.working_dir, pfs_root))


def execute(
    config: JobConfig,
    task: Task,
    pfs_root: str,
    log: DatumLog,
    warm: WarmRunner,
    error_handler: bool = False,
    started: float | None = None,
) -> bool:
    """Run one staged datum's ``cmd`` (``errCmd``/``errStdin`` if ``error_handler``): warm for
    ``python3 -m module`` (no stdin), else as a subprocess; success is exit status 0 or one of
    ``acceptReturnCode`` (for both, as driver.go ``RunUserCode``/``RunUserErrorHandlingCode``).

    ``datumTimeout`` is one deadline for the datum's try, counted from ``started`` (the
    ``time.monotonic()`` its ``cmd`` started; now if not given): ``errCmd`` runs on what ``cmd`` left
    of it, and not at all once it is used up, as Pachyderm runs the recovery callback under the
    datum's timeout context (src/server/worker/datum/datum.go ``Run``/``run``)."""
    spec_cmd, spec_stdin = (config.err_cmd, config.err_stdin) if error_handler else (config.cmd, config.stdin)
    cmd = [map_pfs(arg, pfs_root) for arg in spec_cmd]
    if not error_handler:
        log.begin()
    clock = (
        DatumClock(config.timeout, config.pause_file, time.monotonic() if started is None else started)
        if config.timeout
        else None
    )
    if error_handler and clock is not None and clock.time_left() <= 0:
        log.write(f"runner: errCmd not run: cmd used up the datum's datumTimeout ({config.timeout:g}s)\n")
        return False
    cwd = working_dir(config, pfs_root)
    if not os.path.isdir(cwd):
        log.write(f"transform.workingDir {config.working_dir}: no such folder ({cwd})\n")
        return False
    module = warm_module(spec_cmd, spec_stdin)
    overrides = datum_overrides(config, task, pfs_root)
    if module is not None:
        return warm.run(
            module,
            cmd[3:],
            overrides,
            config.cwd,
            log,
            clock,
            config.accept_return_codes,
            cwd,
        )
    return run_subprocess(config, cmd, spec_stdin, {**os.environ, **overrides}, pfs_root, log, cwd, clock)


class DatumRunner(Protocol):
    """Runs one staged datum as ``execute`` does, in a worker; made once per worker (``StartRunner``)."""

    def execute(
        self, config: JobConfig, task: Task, pfs_root: str, log: DatumLog, **options: Any
    ) -> bool: ...

    def close(self) -> None: ...


#: Called in each worker process once its staging root exists: the runner of that worker's datums.
StartRunner = Callable[[JobConfig, "Stager"], DatumRunner]


class LocalDatumRunner:
    """The local executor: datums run in this worker process (warm) or as its subprocesses."""

    def __init__(self, imports_file: str = "", cwd: str = "") -> None:
        recorder = ImportRecorder(imports_file, cwd) if imports_file else None
        self.warm = WarmRunner.for_this_process(recorder)

    def execute(self, config: JobConfig, task: Task, pfs_root: str, log: DatumLog, **options: Any) -> bool:
        return execute(config, task, pfs_root, log, self.warm, **options)

    def close(self) -> None:
        return None


def start_local_runner(config: JobConfig, _stager: Stager) -> DatumRunner:
    return LocalDatumRunner(config.imports_file, config.cwd)


def run_task(
    config: JobConfig, store: ObjectStore, task: Task, stager: Stager, runner: DatumRunner
) -> Result:
    """Stage, run and collect one datum try; when ``cmd`` fails, ``errCmd`` (if any) runs in the same
    staging and decides whether the datum is recovered (src/server/worker/datum/datum.go ``run``:
    the recovery callback). A recovered datum's outputs are dropped (datum.go ``finish`` uploads
    only a successful datum's ``/pfs/out``)."""
    started = time.perf_counter()
    outputs: dict[str, tuple[str, int]] = {}
    recovered = collected = False
    try:
        stager.stage(task)
        cmd_started = time.monotonic()  # datumTimeout's one deadline for cmd and errCmd
        ok = runner.execute(config, task, stager.visible_pfs, stager.log, started=cmd_started)
        if ok:
            outputs = stager.collect(store)
            collected = True
        elif config.err_cmd:
            stager.log.write("runner: cmd failed; running errCmd\n")
            recovered = runner.execute(
                config, task, stager.visible_pfs, stager.log, error_handler=True, started=cmd_started
            )
        log = stager.log.tail()
    except Exception as exc:  # staging or collecting failed: report it as the datum's failure
        ok, log = False, f"runner: {type(exc).__name__}: {exc}\n"
    finally:
        stager.clear(out_collected=collected)
    return Result(task.datum_id, task.attempt, ok, time.perf_counter() - started, log, outputs, recovered)


def _worker_setup(config: JobConfig, parent: int, guard: GroupGuard | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    die_with_parent(signal.SIGKILL, parent)
    if guard is not None:
        os.close(guard.write_fd)  # only the runner may hold it: its death is what the guard waits for
        with contextlib.suppress(OSError):
            os.setpgid(0, guard.pgid)
    # The job's group is not the terminal's foreground group: never read the terminal.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    # Datums write to fds 1 and 2 (redirected to their log), whatever sys.stdout was in the parent.
    sys.stdout, sys.stderr = streams_on_fds()


def _debug_main(config: JobConfig, task: Task, root: str, visible: str, parent: int) -> None:
    _worker_setup(config, parent)
    log = DatumLog(Path(root) / "datum.log")
    warm = WarmRunner.for_this_process()
    try:
        cmd_started = time.monotonic()
        ok = execute(config, task, f"{visible}/pfs", log, warm, started=cmd_started)
        if not ok and config.err_cmd:
            log.write("runner: cmd failed; running errCmd\n")
            if execute(config, task, f"{visible}/pfs", log, warm, error_handler=True, started=cmd_started):
                log.write("runner: errCmd succeeded: run would count this datum as recovered\n")
    except Exception as exc:
        log.write(f"runner: {type(exc).__name__}: {exc}\n")
        ok = False
    os._exit(0 if ok else 1)


def run_staged_datum(config: JobConfig, task: Task, root: Path) -> tuple[bool, str]:
    """``debug datum``: run ``task``, staged at ``root/pfs`` (``stage_inputs``), in a forked worker
    exactly as a job's worker runs it (``execute``), without collecting or clearing anything.
    Returns (success, the datum's log, also kept in ``root/datum.log``)."""
    ctx = multiprocessing.get_context("fork")
    visible = make_link(root, f"debug-{task.datum_id}")
    proc = ctx.Process(target=_debug_main, args=(config, task, str(root), visible, os.getpid()))
    proc.start()
    try:
        proc.join()
    except BaseException:
        proc.kill()
        proc.join()
        raise
    finally:
        remove_link(visible)
    log_path = root / "datum.log"
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return proc.exitcode == 0, log


def _worker_main(
    conn: Connection, config: JobConfig, parent: int, guard: GroupGuard, start_runner: StartRunner
) -> None:
    _worker_setup(config, parent, guard)
    store = ObjectStore(Path(config.store_root))
    name = f"worker-{os.getpid()}"
    visible = f"{config.visible_root}/{name}" if config.visible_root else ""
    stager = Stager(Path(config.work_root) / name, visible, config.empty_files)
    runner = start_runner(config, stager)
    try:
        _serve_batches(conn, config, store, stager, runner, parent)
    finally:
        runner.close()


def _serve_batches(
    conn: Connection, config: JobConfig, store: ObjectStore, stager: Stager, runner: DatumRunner, parent: int
) -> None:
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent:  # the runner was killed: stop, don't linger
                    return
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        try:
            for task in batch:
                conn.send(run_task(config, store, task, stager, runner))
        except (BrokenPipeError, ConnectionResetError):  # the runner is gone
            return


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    pending: deque[Task] = field(default_factory=deque)


class WorkerPool:
    """``n`` forked workers running the datums of one job (each with a runner from ``start_runner``)."""

    def __init__(self, n: int, config: JobConfig, start_runner: StartRunner = start_local_runner) -> None:
        self.config = config
        self.start_runner = start_runner
        self.ctx = multiprocessing.get_context("fork")
        self.guard = GroupGuard()
        self.workers = [self._start() for _ in range(n)]

    def _start(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        args = (child, self.config, os.getpid(), self.guard, self.start_runner)
        proc = self.ctx.Process(target=_worker_main, args=args, daemon=True)
        proc.start()
        if proc.pid is not None:
            self.guard.adopt(proc.pid)
        child.close()
        return _Worker(proc, parent)

    def run(
        self, tasks: deque[Task], on_result: Callable[[Result], Task | None], tick: Callable[[], None]
    ) -> None:
        """Run ``tasks`` to the end; ``on_result`` may return a retry, ``tick`` is called often."""
        while tasks or any(w.pending for w in self.workers):
            size = max(1, min(64, len(tasks) // (len(self.workers) * 4)))
            for w in self.workers:
                # The next batch is sent while the worker is still on the second half of the
                # current one, so it never waits for this loop to wake up between batches.
                if tasks and len(w.pending) <= size // 2:
                    batch = [tasks.popleft() for _ in range(min(size, len(tasks)))]
                    w.pending.extend(batch)
                    w.conn.send(batch)
            by_conn = {id(w.conn): w for w in self.workers}
            by_sentinel = {w.process.sentinel: w for w in self.workers}
            ready = wait([w.conn for w in self.workers if w.pending] + list(by_sentinel), timeout=0.2)
            dead = []
            for obj in ready:
                if isinstance(obj, int):
                    dead.append(by_sentinel[obj])
                    continue
                w = by_conn[id(obj)]
                try:
                    while w.pending and obj.poll():
                        result = obj.recv()
                        w.pending.popleft()
                        retry = on_result(result)
                        if retry is not None:
                            tasks.append(retry)
                except (EOFError, OSError):
                    dead.append(w)
            for w in dict.fromkeys(dead):
                self._replace_dead(w, tasks, on_result)
            tick()

    def _replace_dead(
        self, w: _Worker, tasks: deque[Task], on_result: Callable[[Result], Task | None]
    ) -> None:
        with contextlib.suppress(EOFError, OSError):
            while w.pending and w.conn.poll():
                on_result_retry = on_result(w.conn.recv())
                w.pending.popleft()
                if on_result_retry is not None:
                    tasks.append(on_result_retry)
        w.process.join(timeout=1)
        code = w.process.exitcode
        if w.pending:
            current = w.pending.popleft()
            why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            log = f"runner: the worker process running this datum died ({why})\n"
            if code == TIMED_OUT_WORKER_EXIT and self.config.timeout:
                ended = "and did not stop when told: its worker process was ended"
                log = f"{timed_out_message(self.config.timeout)} {ended}\n"
            retry = on_result(Result(current.datum_id, current.attempt, False, 0.0, log))
            if retry is not None:
                tasks.append(retry)
            tasks.extendleft(reversed(w.pending))
        w.conn.close()
        self.workers[self.workers.index(w)] = self._start()

    def close(self, kill: bool = False) -> None:
        for w in self.workers:
            if kill:
                w.process.kill()
            else:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        for w in self.workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self.guard.close()
