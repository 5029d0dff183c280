"""How compiled solves run in a process: the threading layer, launches from many Python
threads, fork, and Ctrl-C.

- **Fork safety.**  GNU OpenMP (Numba's ``omp`` layer on Linux) cannot survive fork():
  a fork-started child that launches a parallel kernel is terminated, and a
  ``multiprocessing.Pool`` hangs.  Unless the user has chosen a layer
  (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``) or Numba has already
  started one, ``import fastgd`` asks Numba for its "forksafe" layer: ``tbb`` when TBB is
  installed, else ``workqueue`` on Linux (OpenMP before workqueue elsewhere, where it is
  fork-safe).  This only sets a config value; nothing starts or compiles.
- **Threads.**  ``workqueue`` aborts the process on parallel launches from two threads at
  once, so `parallel_launch` serialises them under a lock, only on that layer.
- **Ctrl-C.**  A Python signal handler runs only between bytecodes of the main thread,
  never inside a compiled call.  `interruptible` runs the call in a worker thread while
  the main thread waits; on KeyboardInterrupt (or whatever the SIGINT handler raises) it
  sets ``ip[IP_STOP_AT] = INTERRUPTED`` (-1), which the drivers re-read before every
  iteration (`fastgd._jit.load_relaxed`), waits for the call to return (every problem paused
  after a whole iteration, state consistent) and re-raises.
"""
import contextlib
import os
import threading

import numba

from . import config, contract

STOPPED_EARLY = ("the compiled solve stopped early: an exception was raised inside compiled "
                 "code (a RowLoss's phi and dphi must not raise: return nan or inf where "
                 "the loss is undefined, which fastgd reports as DIVERGED)")
_LAUNCH_LOCK = threading.RLock()  # re-entrant: a launch inside a launching call
_forked_from_omp = False


def choose_threading_layer():
    """Ask Numba for a fork-safe threading layer unless one is chosen or running."""
    from numba.np.ufunc import parallel
    if "NUMBA_THREADING_LAYER" in os.environ or parallel._is_initialized:
        return
    if str(numba.config.THREADING_LAYER).lower() == "default":
        numba.config.THREADING_LAYER = "forksafe"


def _after_fork_in_child():
    global _forked_from_omp, _worker
    _worker = None  # its thread did not survive the fork
    from numba.np.ufunc import parallel
    if parallel._is_initialized and numba.threading_layer() == "omp":
        _forked_from_omp = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def parallel_launch():
    """Context manager around every call of a parallel=True kernel.

    Serialises launches only on the workqueue layer (free on tbb and omp).  In a child
    forked from a process whose OpenMP threads ran, raises RuntimeError instead of
    letting OpenMP terminate the process.
    """
    if _forked_from_omp:
        raise RuntimeError(
            "fastgd: this process was forked from one that ran GNU OpenMP threads "
            "(NUMBA_THREADING_LAYER=omp), which cannot run parallel kernels after fork(). "
            "Leave NUMBA_THREADING_LAYER unset (fastgd then picks a fork-safe layer), "
            "install tbb, or start workers with multiprocessing's 'spawn' or 'forkserver'")
    numba.get_num_threads()  # starts the threading layer: threading_layer() is now known
    if numba.threading_layer() == "workqueue":
        return _LAUNCH_LOCK
    return contextlib.nullcontext()


class _Worker:
    """One daemon thread that runs compiled calls handed to it by the main thread."""

    def __init__(self):
        self._go = threading.Event()
        self._done = threading.Event()
        self._fn = None
        self._threads = 1
        self._error = None
        threading.Thread(target=self._loop, name="fastgd-solve", daemon=True).start()

    def _loop(self):
        while True:
            self._go.wait()
            self._go.clear()
            try:
                numba.set_num_threads(self._threads)  # thread-local in Numba: the caller's
                self._fn()
            except BaseException as exc:  # handed back to the caller
                self._error = exc
            self._fn = None
            self._done.set()

    def call(self, fn, on_interrupt):
        """fn() in the worker; an exception raised into the waiting main thread (Ctrl-C)
        calls on_interrupt(), waits for fn to return and is re-raised."""
        self._error = None
        self._done.clear()
        self._fn = fn
        self._threads = numba.get_num_threads()
        self._go.set()
        interrupt = None
        while True:
            try:
                self._done.wait()
                break
            except BaseException as exc:  # a second Ctrl-C must not orphan the call
                if interrupt is None:
                    interrupt = exc
                    on_interrupt()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if interrupt is not None:
            raise interrupt


_worker = None
_worker_lock = threading.Lock()


def interruptible(fn, ip, work):
    """Run the compiled call fn() so that Ctrl-C stops it within about an iteration.

    ip: the call's int64 options, whose IP_STOP_AT the drivers re-read every iteration.
    work: an estimate of the call's element reads; calls below
    config.INTERRUPT_MIN_WORK (over in well under a second) and calls from threads other
    than the main one (which signals never reach) run directly.
    """
    if work < config.INTERRUPT_MIN_WORK or threading.current_thread() is not threading.main_thread():
        return fn()
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = _Worker()

    def stop():
        ip[contract.IP_STOP_AT] = contract.INTERRUPTED

    return _worker.call(fn, stop)


def threads_for(cap):
    """The Numba threads a CPU solve with thread cap `cap` (None: no cap) runs on."""
    threads = numba.get_num_threads()
    return threads if cap is None else min(cap, threads)


@contextlib.contextmanager
def thread_cap(cap):
    """numba.set_num_threads(threads_for(cap)) for the calling thread (thread-local in
    Numba, and carried into the worker of `interruptible`), restored afterwards."""
    if cap is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(threads_for(cap))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
