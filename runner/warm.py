"""Run ``python3 -m <module> args...`` inside a long-lived worker, as if in a fresh process.

A warm worker pays the module's imports (pyarrow, pandas...) once and then runs one datum
after another in the same interpreter. Per datum it must look like a new process to the
stage: ``__main__`` is a fresh module, ``sys.argv`` is the datum's command line, the
environment is the runner's plus the datum's variables, fds 1 and 2 go to the datum's log,
and whatever the stage changed in ``os.environ``, ``sys.argv`` or the working directory is
undone afterwards.

Costs are kept per worker, not per datum (they add up over 8,000 datums): the module's code
object is found and compiled once (:class:`ModuleCache`), and the environment is switched by
setting only the datum's few variables, with a C-level snapshot comparison to catch a stage
that changed anything else (:class:`EnvironmentGuard`). Why, with numbers:
docs/runner-performance.md.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import io
import os
import re
import signal
import sys
import traceback
import types
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, Any

from runner.datum_log import DatumLog
from runner.pause_clock import DatumClock

if TYPE_CHECKING:  # runner/standby.py imports this module
    from runner.standby import ImportRecorder

PYTHON_RE = re.compile(r"^python(3(\.\d+)?)?$")


class DatumTimeout(BaseException):
    """Raised inside a warm datum when ``datumTimeout`` expires (BaseException: stages can't swallow it)."""


def warm_module(cmd: tuple[str, ...], stdin: tuple[str, ...]) -> str | None:
    """The module of a ``python3 -m <module> ...`` command (run warm), else None."""
    if stdin or len(cmd) < 3 or cmd[1] != "-m":
        return None
    return cmd[2] if PYTHON_RE.match(os.path.basename(cmd[0])) else None


@dataclass(frozen=True)
class ModuleCode:
    """What ``python -m name`` executes: the spec of the module (or package ``__main__``) and its code."""

    spec: ModuleSpec
    code: types.CodeType


class ModuleCache:
    """Code objects of ``-m`` modules, found and compiled once per worker (as runpy would each time)."""

    def __init__(self) -> None:
        self._code: dict[str, ModuleCode] = {}

    def get(self, name: str) -> ModuleCode:
        found = self._code.get(name)
        if found is None:
            found = self._code[name] = _find_module_code(name)
        return found


def _find_module_code(name: str) -> ModuleCode:
    """Resolve ``name`` like ``python -m``: a package runs its ``__main__`` submodule."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"No module named {name!r}")
    if spec.submodule_search_locations is not None:  # a package
        if name == "__main__" or name.endswith(".__main__"):
            raise ImportError(f"cannot use package {name!r} as __main__")
        return _find_module_code(f"{name}.__main__")
    if spec.loader is None or not hasattr(spec.loader, "get_code"):
        raise ImportError(f"{name!r} has no code to run")
    code = spec.loader.get_code(name)
    if code is None:
        raise ImportError(f"no code object available for {name!r}")
    return ModuleCode(spec, code)


def _exec_as_main(module: ModuleCode) -> None:
    """Execute the code in a fresh ``__main__`` module, as ``runpy.run_module(alter_sys=True)`` does."""
    spec = module.spec
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=spec.origin,
        __cached__=spec.cached,
        __loader__=spec.loader,
        __package__=spec.parent,
        __spec__=spec,
        __builtins__=builtins,
    )
    saved_main, saved_argv0 = sys.modules.get("__main__"), sys.argv[0]
    sys.modules["__main__"] = main
    sys.argv[0] = spec.origin or spec.name
    try:
        exec(module.code, main.__dict__)
    finally:
        sys.argv[0] = saved_argv0
        if saved_main is not None:
            sys.modules["__main__"] = saved_main


def _environ_snapshot() -> dict[Any, Any]:
    """A copy of the process environment, cheap to take and compare.

    CPython keeps ``os.environ``'s encoded items in the dict ``os.environ._data``; copying it is
    one C call, where ``dict(os.environ)`` decodes every item (measured in
    docs/runner-performance.md, "Warm datums").
    """
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


class EnvironmentGuard:
    """Sets a datum's variables and restores the worker's environment after it.

    The environment the worker had when the guard was made is the baseline every datum starts
    from. ``enter`` sets only the datum's own variables; ``exit`` puts back those, then checks
    the whole environment against the baseline (one dict comparison) and rebuilds it item by
    item only if the stage changed something else.
    """

    def __init__(self) -> None:
        self._baseline = _environ_snapshot()
        self._baseline_text = dict(os.environ)
        self._datum_keys: tuple[str, ...] = ()

    def enter(self, overrides: dict[str, str]) -> None:
        self._datum_keys = tuple(overrides)
        os.environ.update(overrides)

    def exit(self) -> None:
        for key in self._datum_keys:
            value = self._baseline_text.get(key)
            if value is None:
                os.environ.pop(key, None)
            elif os.environ.get(key) != value:
                os.environ[key] = value
        self._datum_keys = ()
        if _environ_snapshot() != self._baseline:
            for key in [k for k in os.environ if k not in self._baseline_text]:
                del os.environ[key]
            for key, value in self._baseline_text.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value


def streams_on_fds() -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    """``sys.stdout``/``sys.stderr`` writing straight to fds 1 and 2, where a datum's log is put."""
    stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace")
    stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    return stdout, stderr


#: The shortest re-arming of the timer: ``setitimer`` with 0 would disarm it.
MIN_REARM_SECONDS = 0.001
#: Seconds a warm datum has, once ``DatumTimeout`` is raised in it, to give control back to the
#: worker. A datum that swallows it (a bare ``except:``) and runs on past that has its worker
#: process ended, as Pachyderm kills a timed-out datum's process (driver.go ``RunUserCode``,
#: ``exec.CommandContext``); the pool then fails the datum naming its timeout.
TIMEOUT_GRACE_SECONDS = 2.0
#: The exit status of a worker process ended so (runner/workers.py ``WorkerPool``).
TIMED_OUT_WORKER_EXIT = 124


class _TimeoutAlarm:
    """The SIGALRM handler of one warm datum: at the wall-clock expiry, the time its job was paused
    by ``runner up`` is given back (the timer re-armed for it, runner/pause_clock.py); once the
    running time is used up, ``DatumTimeout`` is raised in the datum's code, and the timer armed
    once more for ``TIMEOUT_GRACE_SECONDS``: if it fires again, the datum did not stop and the
    worker process ends itself. Python runs the handler in the main thread between bytecodes, so
    after a long C call, as before."""

    def __init__(self, clock: DatumClock) -> None:
        self.clock = clock
        self.raised = False

    def __call__(self, _signum: int, _frame: Any) -> None:
        if self.raised:  # DatumTimeout was swallowed and the datum still runs: stop it the hard way
            line = f"{self.clock.timed_out_message()}; the datum did not stop, so its worker process ended\n"
            with contextlib.suppress(OSError):
                os.write(2, line.encode())
            os._exit(TIMED_OUT_WORKER_EXIT)
        left = self.clock.time_left()
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, max(left, MIN_REARM_SECONDS))
            return
        self.raised = True
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT_GRACE_SECONDS)
        raise DatumTimeout()


@dataclass
class WarmRunner:
    """Runs ``-m`` modules in this process, one datum at a time (one per worker process)."""

    modules: ModuleCache
    environment: EnvironmentGuard
    #: records this worker's imports after its first datum, for ``runner up``'s standby jobs
    recorder: ImportRecorder | None = None

    @classmethod
    def for_this_process(cls, recorder: ImportRecorder | None = None) -> WarmRunner:
        return cls(ModuleCache(), EnvironmentGuard(), recorder)

    def run(
        self,
        module: str,
        args: list[str],
        overrides: dict[str, str],
        cwd: str,
        log: DatumLog,
        clock: DatumClock | None,
        accept_return_codes: tuple[int, ...] = (),
        workdir: str | None = None,
    ) -> bool:
        """Run ``python -m module args`` with fds 1/2 on ``log``; True on success (exit status 0, or
        one of ``accept_return_codes``, the spec's ``acceptReturnCode``, as for a subprocess).

        ``clock`` (``datumTimeout``, None = no limit) counts running time: the pauses of the job
        recorded in its pause file (runner/pause_clock.py) are not counted; the code gets the
        running time the clock has left (``errCmd`` runs on what ``cmd`` left).

        The module is found from ``cwd`` (the runner's folder, on ``sys.path``); the code runs in
        ``workdir`` (``transform.workingDir``) if given, else in ``cwd``; ``cwd`` is restored after."""
        saved_argv = sys.argv[:]
        saved_streams = (sys.stdout, sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(log.fd, 1)
        os.dup2(log.fd, 2)
        ok = False
        try:
            self.environment.enter(overrides)
            sys.argv = [module, *args]
            os.chdir(workdir or cwd)
            if cwd not in sys.path:
                sys.path.insert(0, cwd)
            alarm = _TimeoutAlarm(clock) if clock is not None else None
            if alarm is not None:
                signal.signal(signal.SIGALRM, alarm)
                signal.setitimer(signal.ITIMER_REAL, max(alarm.clock.time_left(), MIN_REARM_SECONDS))
            try:
                _exec_as_main(self.modules.get(module))
                ok = True
            except SystemExit as exc:
                ok = exc.code in (None, 0) or exc.code in accept_return_codes
                if alarm is not None and alarm.raised:
                    pass  # the stage caught DatumTimeout and exited: said below
                elif isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
                elif not ok and log.written() == 0:  # say why, unless the stage already did
                    print(f"exit status {exc.code}", file=sys.stderr)
            except DatumTimeout:
                pass  # said below
            except BaseException:
                if alarm is None or not alarm.raised:
                    traceback.print_exc()
            finally:
                if alarm is not None:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            if alarm is not None and alarm.raised:
                # timed out, however the stage ended: caught DatumTimeout or not (Pachyderm's
                # context kills the process, whatever it was doing)
                ok = False
                print(alarm.clock.timed_out_message(), file=sys.stderr)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
            self.environment.exit()
            sys.argv = saved_argv
            os.chdir(cwd)
        if self.recorder is not None:
            self.recorder.after_datum()
        return ok
