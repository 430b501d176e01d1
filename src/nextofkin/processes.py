"""Worker processes that never outlive the process that started them, and crash-proof locks.

An ingest or a server killed with SIGKILL runs no clean-up code, so its worker processes must
notice on their own: on Linux the kernel sends them SIGKILL (``PR_SET_PDEATHSIG``); elsewhere, or
if that fails, a watchdog thread ends the worker when its parent process id changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from nextofkin.errors import Busy
from nextofkin.i18n import _

_PR_SET_PDEATHSIG = 1
_WATCHDOG_PERIOD = 0.5


def die_with_parent(parent_pid: int, *, deathsig: bool) -> None:
    """Make the calling (worker) process end when ``parent_pid`` ends, however it ends.

    Call it first thing in a worker's initialiser. ``PR_SET_PDEATHSIG`` fires when the *thread*
    that started the worker ends, so the parent asks for it (``deathsig``) only when it starts
    workers from its main thread (see :func:`deathsig_safe`). A watchdog thread runs in any case:
    the parent may have died before this call, or the platform may lack ``prctl``.
    """
    if deathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before we could ask to be told
    thread = threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True
    )
    thread.start()


def deathsig_safe() -> bool:
    """Whether workers started from the calling thread may use ``PR_SET_PDEATHSIG``: only from
    the main thread, which lives as long as the process (a request thread that ends would take
    its workers with it)."""
    return threading.current_thread() is threading.main_thread()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(_WATCHDOG_PERIOD)
        if os.getppid() != parent_pid:
            os._exit(1)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block, or raise :class:`Busy` at once.

    The kernel drops the lock when its holder dies, so a killed run never leaves a stale lock.
    ``what`` names the activity in the error ("an ingest"). The holder writes its pid and start
    time into the file, for the message the next contender gets.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise Busy(
                _(
                    "%(what)s is already running in this workspace (%(holder)s); wait for "
                    "it to finish, then run again",
                    what=what,
                    holder=holder or "holder unknown",
                ),
                retry_after=60,
            ) from exc
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()}, started {started}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
