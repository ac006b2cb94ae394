"""`hydra/launcher=joblib` in toynets: the joblib plugin's launcher, with workers that fail alone.

The plugin (hydra-joblib-launcher) hands a sweep's jobs to joblib's loky process pool. When one
loky worker dies (SIGKILL, the kernel's out-of-memory killer, a crash in native code), loky
declares the whole pool broken: it kills the healthy workers, fails every job not yet done, and
joblib raises `TerminatedWorkerError`, which ends the sweep without its summary. Loky cannot
tell afterwards which job was on the worker that died first.

This launcher is a subclass of the plugin's that keeps everything but the pool: the plugin's
config (`hydra/launcher=joblib`, `hydra.launcher.n_jobs=2`, ...), its `setup`, and the
function each job runs, `execute_job` (Hydra's `run_job` around toynets' `_hydra_main`, the one
pipeline of every launcher). Hydra builds only launchers of the `hydra_plugins` package, so
the sweep callback has Hydra build this class where the config names the plugin's
(`install`). The pool is `n_jobs` worker processes of its own, each sent one job at a time
through its own pipe, so the launcher always knows which job a worker holds:

- a worker that dies fails that job alone: `sweep.fail_lost_job` marks its run FAILED with the
  reason (or gives it a NO_RUN row in the summary if it had no run yet), a fresh worker takes
  its place and the other jobs go on; a job past `hydra.launcher.timeout` seconds is ended so;
- Ctrl-C (or SIGTERM) interrupts the running jobs, whose runs close as KILLED with what they
  logged, waits a few seconds for them, then kills what is left: no worker outlives the sweep
  (on Linux a worker also gets SIGINT when the sweep's process dies, even by SIGKILL);
- workers are reused from job to job and from batch to batch (Optuna), so TensorFlow is
  imported once per worker, as with loky, and stop when the sweep ends.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import connection, get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as PluginLauncher
from joblib.externals import cloudpickle

from toynets import processes, sweep

log = logging.getLogger(__name__)

GRACE_SECONDS = 10.0  # after Ctrl-C: how long running jobs get to close their runs
STOP_SECONDS = 5.0  # at the end of a sweep: how long idle workers get to exit
POOLS: list[Pool] = []  # the pools of this process, stopped by `stop_all`


@dataclass
class Job:
    num: int
    overrides: list[str]
    started: float = 0.0


@dataclass
class Worker:
    process: Any  # a multiprocessing Process (spawn)
    conn: Connection
    job: Job | None = None


class JoblibLauncher(PluginLauncher):
    """The joblib plugin's launcher on a pool where a dying worker fails only its own job."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool: Pool | None = None

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
        """Run the jobs, `n_jobs` at a time; one JobReturn per job, in order."""
        setup_globals()
        assert self.config is not None and self.task_function is not None
        assert self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = [Job(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        if self.pool is None:
            self.pool = Pool(self.n_workers(), self.joblib.get("timeout"))
        log.info(f"Joblib launcher (toynets): {self.pool.size} worker processes, {len(jobs)} jobs")
        log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
        for job in jobs:
            log.info(f"\t#{job.num} : {' '.join(filter_overrides(job.overrides))}")
        sweep.expect_jobs({job.num: job.overrides for job in jobs})
        context = cloudpickle.dumps(
            (self.hydra_context, self.config, self.task_function, Singleton.get_state())
        )
        try:
            done = self.pool.run(jobs, context)
        except KeyboardInterrupt as stop:
            self.pool.stop(_signal_for(stop), GRACE_SECONDS)
            raise
        return [done[job.num] for job in jobs]

    def n_workers(self) -> int:
        """`n_jobs` as joblib reads it (-1: one per core, -2: all but one, ...)."""
        from joblib import effective_n_jobs

        return max(1, effective_n_jobs(self.joblib.get("n_jobs", -1)))


def install() -> None:
    """Have Hydra build this launcher wherever a config names the plugin's (`_target_` of
    `hydra/launcher=joblib`). Hydra instantiates a launcher from its registry of scanned
    plugin classes, by class name; this points the plugin's name at the subclass, in this
    process (the launching one) only."""
    from hydra.core.plugins import Plugins

    Plugins.instance().class_name_to_class[sweep.JOBLIB_LAUNCHER] = JoblibLauncher


class Pool:
    """Up to `size` worker processes, each running one job at a time, started as needed."""

    def __init__(self, size: int, timeout: float | None = None):
        self.size, self.timeout = size, timeout
        self.env = worker_env(size)
        self.workers: list[Worker] = []
        POOLS.append(self)

    def run(self, jobs: list[Job], context: bytes) -> dict[int, JobReturn]:
        """Every job's JobReturn, by job number; a job whose worker died gets a completed
        JobReturn without a value (as a failing toynets job returns None in a sweep)."""
        waiting, done = deque(jobs), {}
        while waiting or any(w.job for w in self.workers):
            done.update(self._dispatch(waiting, context))
            for worker in self._ready():
                job, outcome = self._settle(worker)
                if job is not None:
                    done[job.num] = outcome
        return done

    def _dispatch(self, waiting: deque[Job], context: bytes) -> dict[int, JobReturn]:
        """Hand waiting jobs to idle workers, starting workers up to `size`; returns the jobs
        that could not be handed over (their worker had died)."""
        failed = {}
        while waiting:
            idle = [w for w in self.workers if w.job is None and w.process.is_alive()]
            if not idle and len(self.workers) >= self.size:
                break
            worker = idle[0] if idle else self._start()
            job = waiting.popleft()
            job.started, worker.job = time.monotonic(), job
            try:
                worker.conn.send_bytes(cloudpickle.dumps((job.num, job.overrides, context)))
            except OSError:  # the worker died before it got the job
                self._end(worker, wait=STOP_SECONDS)
                failed[job.num] = lost(job, died(worker.process.exitcode))
        return failed

    def _start(self) -> Worker:
        spawn = get_context("spawn")
        ours, theirs = spawn.Pipe()
        process = spawn.Process(
            target=serve, args=(theirs, os.getpid(), self.env), name="toynets-worker"
        )
        process.start()
        theirs.close()
        worker = Worker(process, ours)
        self.workers.append(worker)
        return worker

    def _ready(self) -> list[Worker]:
        """Workers with something to settle (a reply, an exit, a job past its timeout)."""
        waits = {w.conn: w for w in self.workers if w.job} | {
            w.process.sentinel: w for w in self.workers
        }
        ready = connection.wait(list(waits), timeout=self._until_timeout())
        found = {id(waits[r]): waits[r] for r in ready}
        found |= {id(w): w for w in self.workers if w.job and self._overdue(w.job)}
        return list(found.values())

    def _until_timeout(self) -> float | None:
        """Seconds until the first running job passes the timeout (None: no timeout)."""
        starts = [w.job.started for w in self.workers if w.job]
        if not self.timeout or not starts:
            return None
        return max(0.0, min(starts) + self.timeout - time.monotonic())

    def _settle(self, worker: Worker) -> tuple[Job | None, JobReturn | None]:
        """What became of the worker's job: its JobReturn, or a lost job recorded as such;
        (None, None) if the worker is idle or nothing happened yet."""
        job = worker.job
        reply, closed = _receive(worker.conn) if job is not None else (None, False)
        if reply is not None and reply[0] in ("done", "error"):  # the worker carries on
            worker.job = None
            return job, reply[1] if reply[0] == "done" else lost(job, reply[1])
        if job is not None and self._overdue(job):
            self._end(worker)
            limit = f"hydra.launcher.timeout={self.timeout:g}"
            return job, lost(job, f"the job ran longer than {limit} s; its worker was killed")
        if reply is None and not closed and worker.process.is_alive():
            return None, None
        self._end(worker, wait=STOP_SECONDS)
        if job is None:
            return None, None  # an idle worker ended: a new one starts when needed
        if reply is not None:  # ("stopped", why): the job was interrupted and closed its run
            return job, lost(job, f"the job was stopped: {reply[1]}")
        return job, lost(job, died(worker.process.exitcode))

    def _overdue(self, job: Job) -> bool:
        return bool(self.timeout) and time.monotonic() - job.started > self.timeout

    def _end(self, worker: Worker, wait: float = 0.0) -> None:
        """Let the worker's process exit (up to `wait` seconds), kill it if it does not, and
        drop it from the pool."""
        worker.process.join(wait)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        self._retire(worker)

    def _retire(self, worker: Worker) -> None:
        worker.conn.close()
        if worker in self.workers:
            self.workers.remove(worker)

    def stop(self, signum: int | None = None, grace: float = STOP_SECONDS) -> None:
        """Stop every worker: send `signum` (a running job closes its run as KILLED, an idle
        worker exits), close the pipes (an idle worker exits), wait up to `grace` seconds,
        then kill what is left. A second Ctrl-C while waiting skips the wait."""
        for worker in self.workers:
            if signum is not None and worker.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)
            worker.conn.close()
        deadline = time.monotonic() + grace
        try:
            for worker in self.workers:
                worker.process.join(max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            pass
        finally:
            for worker in self.workers:
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
            self.workers.clear()


def _receive(conn: Connection) -> tuple[tuple | None, bool]:
    """(the worker's reply, or None if none is waiting; whether the pipe is closed)."""
    try:
        if not conn.poll():
            return None, False
        return cloudpickle.loads(conn.recv_bytes()), False
    except (EOFError, OSError):
        return None, True


def lost(job: Job, reason: str) -> JobReturn:
    """Record a job that ended without its result (worker died, timed out, stopped) and return
    what a failing toynets job returns in a sweep: a completed job without a value."""
    print(f"toynets: job {job.num} failed: {reason}", file=sys.stderr)
    sweep.fail_lost_job(job.num, reason)
    return JobReturn(overrides=job.overrides, status=JobStatus.COMPLETED, _return_value=None)


def died(exitcode: int | None) -> str:
    """`the worker process died (SIGKILL)` from a process's exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process died ({name})"
    return f"the worker process exited with status {exitcode} during the job"


def _signal_for(stop: BaseException) -> int:
    """The signal to pass on to running jobs: SIGTERM if the sweep got one, else SIGINT."""
    from toynets import errors

    terminated = getattr(errors, "Terminated", None)
    return signal.SIGTERM if terminated and isinstance(stop, terminated) else signal.SIGINT


def worker_env(n_workers: int) -> dict[str, str]:
    """The thread limits joblib's loky backend gives its workers (OpenMP, BLAS, ... at cores /
    n_jobs unless set already), so that n_jobs processes do not oversubscribe the cores."""
    try:
        from joblib._parallel_backends import LokyBackend

        return dict(LokyBackend()._prepare_worker_env(n_workers))
    except Exception:  # a joblib without it: the libraries' own defaults
        return {}


def stop_all(signum: int | None = None, grace: float = STOP_SECONDS) -> None:
    """Stop the workers of every pool of this process (end of a sweep, or an abort)."""
    for pool in POOLS:
        pool.stop(signum, grace)


atexit.register(stop_all)  # before multiprocessing's own exit handler, which would wait


# -- the worker process -------------------------------------------------------------------------
def serve(conn: Connection, parent: int, env: dict[str, str]) -> None:
    """A worker: run the jobs the launcher sends, one at a time, until the pipe closes.

    Replies `("done", JobReturn)`, `("error", message)` when Hydra could not run the job, or
    `("stopped", message)` before exiting when the job was interrupted."""
    os.environ.update(env)
    _interrupt_once()
    _die_with(parent)
    _no_tqdm_semaphore()
    try:
        while _send(conn, _run(conn.recv_bytes())):
            pass
    except (EOFError, OSError):  # the launcher closed the pipe (or is gone)
        return
    except KeyboardInterrupt as stop:  # interrupted: the job closed its run as KILLED
        _send(conn, ("stopped", str(stop) or "interrupted (Ctrl-C)"))


def _run(message: bytes) -> tuple:
    """Run one job (through the plugin's `execute_job`: Hydra's `run_job`, toynets' job)."""
    try:
        num, overrides, context = cloudpickle.loads(message)
        hydra_context, config, task_function, state = cloudpickle.loads(context)
        return (
            "done",
            _core.execute_job(num, overrides, hydra_context, config, task_function, state),
        )
    except Exception as error:
        return ("error", f"{type(error).__name__}: {error}")


def _send(conn: Connection, reply: tuple) -> bool:
    """Send a reply (a result that cannot be pickled becomes an error); False if the launcher
    is gone."""
    try:
        data = cloudpickle.dumps(reply)
    except Exception as error:
        data = cloudpickle.dumps(("error", f"the job's result cannot be sent back: {error}"))
    try:
        conn.send_bytes(data)
    except OSError:
        return False
    return True


def _interrupt_once() -> None:
    """The first SIGINT raises KeyboardInterrupt (the job closes its run as KILLED); later
    ones are ignored, so that they cannot cut that short: a terminal's Ctrl-C reaches every
    process of the group, and the launcher passes it on as well."""

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt("interrupted (SIGINT)")

    signal.signal(signal.SIGINT, interrupt)


def _die_with(parent: int) -> None:
    """On Linux, have the kernel send SIGINT to this worker when the launching process dies,
    even by SIGKILL (elsewhere an idle worker ends when its pipe closes)."""
    processes.die_with(parent, signal.SIGINT)


def _no_tqdm_semaphore() -> None:
    """tqdm makes a named semaphore to share progress bars with forked processes; a spawned
    worker shares nothing, and a worker killed by SIGKILL would leave it behind (Python's
    resource tracker then warns of a leaked semaphore at the end of the sweep)."""
    try:
        from tqdm.std import TqdmDefaultWriteLock
    except ImportError:
        return
    TqdmDefaultWriteLock.mp_lock = None
