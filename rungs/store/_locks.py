"""The store's file locks (`_locks/<name>.lock`): exclusive flocks across threads and processes.

A lock names its holder (pid and host) inside the lock file, so a refusal can say who holds it. A wait
polls (a non-blocking attempt, then a short sleep) rather than blocking inside flock(): a stage that runs
as a Prefect task in a worker thread is interrupted by its task timeout only between Python
instructions, and a wait blocked in the kernel would never see it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rungs.kernel import StoreError, run_info

_FIRST_POLL_S = 0.005
_LONGEST_POLL_S = 0.2  # a lock freed while we sleep is taken at most this late


@contextlib.contextmanager
def exclusive(path: Path, *, wait: bool = True, what: str = "", create: bool = True) -> Iterator[int]:
    """Hold an exclusive flock on `path` for the block; `wait=False` raises StoreError when it is held.

    `create=False` opens only an existing lock file (FileNotFoundError otherwise).
    """
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    try:
        if not _acquire(fd, wait):
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise StoreError(f"{what or path} is locked by another process" + (f" ({holder})" if holder else ""))
        with contextlib.suppress(OSError):
            info = run_info()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {info['pid']} on {info['host']}\n".encode(), 0)
        yield fd
    finally:
        # Unlock explicitly: a child forked meanwhile (a DataLoader worker, say) shares this open
        # file description, and closing only our descriptor would leave the lock held by it.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def is_held(path: Path) -> bool | None:
    """Whether a live process holds the lock at `path` now (None: there is no such lock file)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        if not _acquire(fd, wait=False):
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _acquire(fd: int, wait: bool) -> bool:
    delay = _FIRST_POLL_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not wait:
                return False
        time.sleep(delay)
        delay = min(delay * 2, _LONGEST_POLL_S)
