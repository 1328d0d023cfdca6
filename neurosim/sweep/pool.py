"""Executors of a sweep's points: the local process pool (forked from this process, or from a
fork server that preloads ``sweep._preload``), dask.distributed and the serial loop; each
calls ``run_point``.

Imports ``errors`` and ``timing.pe_array_costs`` (kernel warm-up); ``sweep.run`` only for the
types in annotations.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import gc
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from multiprocessing import forkserver
from typing import Any, Protocol

import numba
from threadpoolctl import threadpool_info, threadpool_limits

from neurosim.errors import ConfigError
from neurosim.timing import pe_array_costs


class PointWorker(Protocol):
    """What the pool runs for each task (``sweep.run.PointWorker``): ``run(task)`` gives the
    task's outcome (a ``sweep.run.Outcome``); both travel to worker processes by pickle."""

    def run(self, task: Any) -> Any: ...


Task = Any
"""A sweep point's task (``sweep.run.Task``), opaque to the pool."""
Outcome = Any
"""A task's outcome (``sweep.run.Outcome``), opaque to the pool."""


def run_point(worker: PointWorker, task: Task) -> Outcome:
    """Entry point of every executor (tests replace it to interrupt a sweep)."""
    return worker.run(task)


def die_with_parent() -> bool:
    """Linux: have the kernel kill this process (SIGKILL) when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``); returns whether it could. The fork server calls it (its
    parent is the sweep's process) and so does each worker (its parent is the fork server), so
    a killed sweep takes both down at once; the lifeline pipe (``_watch_parent``) is the
    portable way to the same end."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


PR_SET_PDEATHSIG = 1
"""Linux prctl option: the signal a process gets when its parent dies."""

PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the process that started the sweep still exists (besides
waiting on its lifeline pipe)."""


def _watch_parent(lifeline: Any, parent_pid: int) -> None:
    """Exit this worker as soon as the sweep's process is gone (killed, even by SIGKILL):
    the parent holds the only write end of ``lifeline``, so a read sees EOF when it dies; a
    check of the parent's pid backs it up where pids can be probed. Runs in a daemon thread."""
    while True:
        try:
            if lifeline.poll(PARENT_POLL_SECONDS):
                lifeline.recv_bytes()
        except (EOFError, OSError):
            os._exit(1)
        if os.name != "nt":
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except OSError:
                pass


def _pool_main(
    init: Any,
    tasks: Any,
    results: Any,
    lifeline: Any,
    parent_pid: int,
    prelude: Callable[[], Any] | None = None,
) -> None:
    """Body of a local worker process: watch the parent (``_watch_parent``), run the
    ``prelude`` if given (its result goes back to the parent, ``LocalPool.prelude_result``),
    warm up (then report ``started``), take the worker object once, then cost tasks until the
    ``None`` sentinel.

    Ctrl-C is left to the parent, which terminates the workers (finished points are saved).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    _child_thread_limits()
    threading.Thread(
        target=_watch_parent, args=(lifeline, parent_pid), name="neurosim-parent", daemon=True
    ).start()
    if prelude is not None:
        try:
            results.put((PRELUDE, prelude()))
        except Exception:  # the parent runs it itself, and meets the error there
            results.put((PRELUDE, None))
    warm_up_frozen()
    results.put(("started",))
    worker = pickle.loads(init.get())
    while True:
        task = tasks.get()
        if task is None:
            return
        try:
            results.put(("ok", run_point(worker, task)))
        except BaseException:
            results.put(("crash", task.index, traceback.format_exc()))
            return


def warm_up_frozen() -> None:
    """A worker's start: load the kernels a point uses (``pe_array_costs.warm_up``; already
    loaded in a worker forked from the preloaded fork server) with the garbage collector
    paused, then freeze every object alive into its permanent generation.

    Those objects (the modules and model the fork inherited, Numba's set-up) live as long as
    the worker, so a collection can free none of them; frozen, the worker's collections scan
    only what its points make, and never write to the pages it shares with its parent. A
    200-point sweep's worker spent 0.16–0.20 s in collections (two full ones of ~150 k
    objects), < 0.01 s frozen."""
    gc.freeze()
    resume = pause_collector()
    try:
        pe_array_costs.warm_up()
    finally:
        resume()
    gc.freeze()


def pause_collector() -> Callable[[], None]:
    """Pause Python's garbage collector, if it runs, for a sweep's start-up (and a worker's
    warm-up, ``warm_up_frozen``); returns the function that resumes it (later calls do
    nothing).

    The start-up (the model, the reference and functional passes, Numba's set-up) makes
    ~130 k objects that live for the whole sweep; a full collection walked them for 50–70 ms
    in the middle of Numba's set-up, where every worker waits for the traces. Paused, the
    caller's first progress report can freeze them before any collection walks them (the
    ``neurosim`` command does); a caller that does not meets one collection of them later."""
    if not gc.isenabled():
        return lambda: None
    gc.disable()
    paused = [True]

    def resume() -> None:
        if paused:
            paused.clear()
            gc.enable()

    return resume


def _dask_run(worker: PointWorker, task: Task) -> Outcome:
    return run_point(worker, task)


def _execute_serial(
    worker: PointWorker, tasks: Sequence[Task], on_outcome: Callable[[Outcome], None]
) -> None:
    for task in tasks:
        on_outcome(run_point(worker, task))


QUEUED_PER_WORKER = 6
"""Points queued to each started worker process at a time. The parent tops the queues up
between its own points, which take 3-30 ms (a memo miss; its first, which loads kernels,
150-200 ms): with 2 queued a worker of the sweep benchmark waited for points 15 % of its time;
at the end a worker holds at most this many (~20 ms)."""

QUEUED_AT_START = 24
"""Points queued to a worker when it has started (its first fill): this process's next point may
be its first, which loads the kernels it has not used yet (130-200 ms on the sweep benchmark);
with ``QUEUED_PER_WORKER`` a worker of the benchmark ran out of points in a third of that
time."""

PRELUDE = "prelude"
"""Message kind of a worker's prelude result (``LocalPool.prelude_result``)."""

PRELOAD = "neurosim.sweep._preload"
"""Module the fork server imports before it forks workers: the costing modules, warmed up."""


def start_method() -> str:
    """How ``LocalPool`` starts its workers: ``fork`` from this process where that is safe
    (Linux, ``_fork_is_safe``: they then start with its imports, at no cost), else from
    multiprocessing's fork server (a fresh interpreter that imports ``PRELOAD`` once), else
    ``spawn`` (Windows)."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods and _fork_is_safe():
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _fork_is_safe() -> bool:
    """Whether no thread of this process could hold a lock across a fork or leave a thread
    pool the child cannot use: only the main Python thread, Numba's threading layer not yet
    launched (its GNU OpenMP pool does not survive a fork) and no OpenMP runtime loaded.
    OpenBLAS's idle pthreads pool stops itself at a fork."""
    if threading.active_count() != 1:
        return False
    try:
        numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized": no Numba pool yet
        pass
    else:
        return False
    return not any(
        lib.get("user_api") == "openmp" or lib.get("threading_layer") == "openmp"
        for lib in threadpool_info()
    )


def _child_thread_limits() -> None:
    """Apply, in a worker, the thread counts of its environment (``_single_threaded_children``:
    1 unless the user set a count): a worker forked from the sweep's process has its libraries
    loaded already, so the variables alone no longer act."""
    try:
        numba_threads = int(os.environ.get("NUMBA_NUM_THREADS", "1"))
        blas_threads = int(
            os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS") or "1"
        )
    except ValueError:  # a malformed count: the libraries keep theirs
        return
    # No OpenMP runtime is loaded in a forked worker (``_fork_is_safe``); a spawned one reads
    # OMP_NUM_THREADS itself.
    numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
    threadpool_limits(max(1, blas_threads), user_api="blas")


class LocalPool:
    """``workers`` local processes that cost points (with the calling process, if
    ``participate``); started early, fed once.

    Where it is safe (``start_method``: Linux, this process single-threaded, as a sweep's
    process is before its functional pass), the workers are forked from this process at
    once: they start in milliseconds with every module imported (and, in a sweep with trace
    reuse, the model), load Numba's compiled kernels on their own core while this process
    runs the functional pass, and no core spends a second on a fresh interpreter. Otherwise
    they are forked from multiprocessing's fork server, which imports ``PRELOAD`` once (a
    fresh interpreter, so no thread pool of this process is ever forked), started by a
    background thread; where there is no fork server they are spawned. ``run`` then sends
    each worker the ``PointWorker`` once (its own queue) and the tasks through a shared queue,
    while the parent costs points too (from the start, so no core idles while the workers
    start). A script that calls ``run_sweep`` with several workers needs the
    ``if __name__ == "__main__":`` guard, as with any spawned multiprocessing.

    ``prelude``: a function the first worker runs before its warm-up, where the workers are
    forked from this process (``runs_prelude``: they inherit it and what it reads, nothing is
    pickled); ``prelude_result`` hands its result over. A sweep gives it the quantized ANN's
    reference, so that this process runs only the functional pass before the points.

    Interrupts and a dead parent: the workers (and any fork server and resource tracker)
    start with SIGINT ignored, so Ctrl-C reaches this process alone, which terminates the
    workers in ``close`` (no queue is ever joined at exit: a worker that died cannot block
    it). Each worker also watches a lifeline pipe whose only write end this process holds: if
    this process is killed (even with SIGKILL), the workers exit, then the fork server (once
    its clients are gone) and the resource tracker (once every holder of its pipe is).
    """

    def __init__(
        self,
        workers: int,
        *,
        participate: bool = True,
        prelude: Callable[[], Any] | None = None,
    ) -> None:
        self.participate = participate
        """Whether ``run`` also costs points in the calling process."""
        method = start_method()
        self.runs_prelude = prelude is not None and workers > 0 and method == "fork"
        """Whether the first worker runs ``prelude`` (only when forked from this process: it
        inherits the function and what it reads, nothing is pickled)."""
        self._prelude: list[Any] = []
        """The prelude's result, once received."""
        ctx = multiprocessing.get_context(method)
        with _sigint_ignored():  # the resource tracker starts with the first queue's lock
            self.tasks, self.results = ctx.Queue(), ctx.Queue()
            self.inits = [ctx.Queue() for _ in range(workers)]
        for q in (self.tasks, self.results, *self.inits):
            # Never wait at exit for a feeder thread that writes to a pipe no worker reads.
            q.cancel_join_thread()
        lifeline, self._lifeline = ctx.Pipe(duplex=False)
        self.procs = [
            ctx.Process(
                target=_pool_main,
                args=(
                    init,
                    self.tasks,
                    self.results,
                    lifeline,
                    os.getpid(),
                    prelude if self.runs_prelude and i == 0 else None,
                ),
                daemon=True,
                name=f"neurosim-sweep-{i}",
            )
            for i, init in enumerate(self.inits)
        ]
        self._finished = False
        self._closing = False
        self._early: list[tuple] = []
        """Messages that ``booting`` received before ``run``."""
        self._started = 0
        self._start_error: BaseException | None = None
        self._starter: threading.Thread | None = None
        with _single_threaded_children(forked=method == "fork"), _sigint_ignored():
            if method == "fork":
                with warnings.catch_warnings():
                    # Python >= 3.12 warns of any other OS thread (OpenBLAS's idle pool, which
                    # stops itself at a fork); start_method ruled out the unsafe ones.
                    warnings.filterwarnings("ignore", "This process .* is multi-threaded")
                    self._start()
                return
            if method == "spawn":
                self._start()
                return
            ctx.set_forkserver_preload([PRELOAD])
            forkserver.ensure_running()
        self._starter = threading.Thread(
            target=self._start, name="neurosim-sweep-start", daemon=True
        )
        self._starter.start()

    def _start(self) -> None:
        try:
            for p in self.procs:
                if self._closing:
                    return
                p.start()
        except BaseException as exc:  # reported by run() or close() in the calling thread
            self._start_error = exc

    def booting(self) -> bool:
        """Whether a worker is still starting: not every worker has reported ``started``
        (and none has failed)."""
        if self._start_error is not None or any(p.exitcode not in (None, 0) for p in self.procs):
            return False
        while self._started < len(self.procs):
            try:
                msg = self.results.get_nowait()
            except queue.Empty:
                return True
            self._early.append(msg)
            self._started += msg[0] == "started"
        return False

    def prelude_result(self) -> Any:
        """What the first worker's ``prelude`` returned (waiting for it), or None if it
        raised; raises if the workers died first. Only when ``runs_prelude``."""
        if not self.runs_prelude:
            raise RuntimeError("this pool's workers run no prelude")
        while True:
            # Messages received meanwhile (``booting``) stay in order for ``run``.
            self._prelude.extend(m[1] for m in self._early if m[0] == PRELUDE)
            self._early = [m for m in self._early if m[0] != PRELUDE]
            if self._prelude:
                return self._prelude[0]
            held, self._early = self._early, []
            try:
                new = self._messages(wait=True)  # blocks: nothing held back to return
            finally:
                self._early = held + self._early
            self._early.extend(new)

    def run(
        self, worker: PointWorker, tasks: Sequence[Task], on_outcome: Callable[[Outcome], None]
    ) -> None:
        """Cost ``tasks`` in the workers and (``participate``) in this process: this process
        takes points from the front of the list, and hands points from its back to each
        worker that has started, ``QUEUED_PER_WORKER`` at a time (so a worker never waits for
        the next: its first points are queued before this process takes its own first point,
        which it may spend loading kernels). Outcomes are passed to ``on_outcome`` here, as
        they arrive."""
        # Pickled here, once: the queue's feeder thread then only copies bytes (it pickled the
        # ~5 MB object while competing with this thread's first point for the interpreter).
        payload = pickle.dumps(worker, protocol=pickle.HIGHEST_PROTOCOL)
        for init in self.inits:
            init.put(payload)
        pending = collections.deque(tasks)
        # One Numba thread here, as in every worker: one busy thread per process and core.
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            self._feed(worker, pending, on_outcome)
        finally:
            numba.set_num_threads(threads)
        for _ in self.procs:
            self.tasks.put(None)
        self._finished = True

    def _feed(
        self, worker: PointWorker, pending: collections.deque, on_outcome: Callable[[Outcome], None]
    ) -> None:
        started = in_flight = bonus = 0
        while pending or in_flight:
            for msg in self._messages(wait=not (pending and self.participate)):
                if msg[0] == "started":
                    started += 1
                    bonus += QUEUED_AT_START - QUEUED_PER_WORKER
                elif msg[0] == "ok":
                    in_flight -= 1
                    on_outcome(msg[1])
                elif msg[0] == PRELUDE:  # not asked for (every point was resumed or failed)
                    self._prelude.append(msg[1])
                else:
                    raise RuntimeError(f"point {msg[1]} failed in a worker:\n{msg[2]}")
            while pending and in_flight < QUEUED_PER_WORKER * started + bonus:
                self.tasks.put(pending.pop())
                in_flight += 1
            bonus = 0  # a worker's first fill only
            if pending and self.participate:
                on_outcome(run_point(worker, pending.popleft()))

    def _messages(self, *, wait: bool) -> list[tuple]:
        """The workers' messages that have arrived; with ``wait``, at least one (raising if
        the workers died)."""
        out, self._early = self._early, []
        while True:
            try:
                if wait and not out:
                    out.append(self.results.get(timeout=0.5))
                else:
                    out.append(self.results.get_nowait())
            except queue.Empty:
                if out or not wait:
                    return out
                if self._starter is not None:
                    self._starter.join()
                dead = [p for p in self.procs if p.exitcode not in (None, 0)]
                if dead or not any(p.is_alive() for p in self.procs):
                    why = (
                        ""
                        if self._start_error is None
                        else f" (start: {type(self._start_error).__name__}: {self._start_error})"
                    )
                    raise RuntimeError(
                        f"sweep worker process(es) "
                        f"{[p.name for p in dead] or 'all'} exited with "
                        f"{[p.exitcode for p in dead]}{why}; finished points "
                        f"are saved, rerun to resume"
                    ) from None

    def close(self) -> None:
        """Stop the workers: after a finished ``run`` they exit on their own (so that their
        resources are released); otherwise (an error, Ctrl-C) they are terminated at once.
        Workers that could not start leave a warning (this process then costed every
        point)."""
        self._closing = True
        if self._starter is not None:
            # A start blocked on the fork server's preload is not waited for after an error:
            # the worker it makes finds the lifeline closed and exits.
            self._starter.join(timeout=None if self._finished else STARTER_WAIT_SECONDS)
        if self._finished and self._start_error is not None:
            warnings.warn(
                f"sweep worker processes could not start "
                f"({type(self._start_error).__name__}: {self._start_error}); the "
                f"points ran in this process and any worker that did start",
                RuntimeWarning,
                stacklevel=2,
            )
        if self._finished:
            for p in self.procs:
                if p.pid is not None:
                    p.join(timeout=5)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            if p.pid is not None:
                p.join(timeout=5)
        for q in (self.tasks, self.results, *self.inits):
            q.close()
        self._lifeline.close()


STARTER_WAIT_SECONDS = 0.25
"""How long ``close`` waits, after an error or Ctrl-C, for workers that are being started."""


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while helper processes start (in the main thread; elsewhere signals
    cannot be changed): they inherit the disposition, and Python keeps an ignored SIGINT, so a
    terminal's Ctrl-C interrupts this process alone, which then stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@contextlib.contextmanager
def _single_threaded_children(forked: bool = False):
    """Start worker processes (or the fork server they are forked from) with one thread per
    numeric library (unless the user set a count): one worker per core, with no thread pools
    competing for the cores (measured on 2 cores: points 2.5-4x slower with the libraries'
    default thread pools). Workers ``forked`` from this process keep its NUMBA_NUM_THREADS:
    their Numba has read it already and refuses another value when it compiles; they set
    their Numba thread count themselves (``_child_thread_limits``)."""
    keys = [k for k in _THREAD_VARIABLES if not (forked and k == "NUMBA_NUM_THREADS")]
    saved = {k: os.environ.get(k) for k in keys}
    try:
        for key, value in saved.items():
            if value is None:
                os.environ[key] = "1"
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


@contextlib.contextmanager
def _threads_while_booting(pool: LocalPool | None):
    """One Numba and one BLAS thread in this process while the pool's workers start.

    Their start (the fork server's imports) keeps a core busy; a two-thread parallel section
    here then runs at the pace of its slower thread, and idle OpenBLAS threads spin on the
    busy core (measured on 2 cores: the ANN reference and functional pass of the sweep
    benchmark 1.7x faster single-threaded while the workers start). Once they wait for
    points, this process uses every thread again: at the end of the block, or earlier at a
    call of the function it yields (a functional pass calls it after every batch).
    """
    if pool is None or not pool.booting():
        yield _no_check
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    blas = threadpool_limits(1, user_api="blas")
    limited = [True]

    def restore() -> None:
        if limited:
            limited.clear()
            numba.set_num_threads(threads)
            blas.restore_original_limits()

    def check(*_: object) -> None:
        if limited and not pool.booting():
            restore()

    try:
        yield check
    finally:
        restore()


def _no_check(*_: object) -> None:
    """``_threads_while_booting``'s check when the threads were never limited."""


def _execute_dask(
    worker: PointWorker, tasks: Sequence[Task], address: str, on_outcome: Callable[[Outcome], None]
) -> None:
    """Submit every point to a dask.distributed scheduler; the worker object is scattered
    (broadcast) once."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError(
            "--scheduler needs dask.distributed: pip install 'neurosim-snn[dask]'"
        ) from None
    try:
        client = Client(address, set_as_default=False, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the dask scheduler at {address!r}: {exc}") from None
    futures = []
    try:
        remote = client.scatter(worker, broadcast=True, hash=False)
        futures = [client.submit(_dask_run, remote, task, pure=False) for task in tasks]
        for fut in as_completed(futures, loop=client.loop):
            on_outcome(fut.result())
    finally:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        client.close()
