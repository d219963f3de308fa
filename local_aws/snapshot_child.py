"""Writing a snapshot file: in place atomically, from the server or from a forked child (BGSAVE).

Like Redis's BGSAVE, the server holds the world lock only to rotate the journal and ``fork()``: the
child pickles its copy-on-write image of the world into ``snapshot.pickle.tmp``, fsyncs it and
renames it in place, then leaves with ``os._exit``, touching nothing else (no logging, no locks, no
sockets: it closes every inherited descriptor but the state dir lock, and dies with its parent).

LIMITATIONS: a snapshot child may need as much memory again as the world: CPython's reference counts
make it write to, and so copy, nearly every page it pickles. While it pickles it competes with the
server for CPU and memory bandwidth, so requests slow down though none waits for the lock (see
bench/bench_snapshot.py for the figures). Only Linux kills a snapshot child with its parent;
elsewhere an orphaned child still holds the lock until it has finished.
"""

from __future__ import annotations

import contextlib
import copyreg
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from local_aws.journal import write_snapshot
from local_aws.state_dir import SNAPSHOT_FILE

log = logging.getLogger(__name__)

CHILD_TIMEOUT = 1800  # seconds a snapshot child may run before SIGALRM ends it
_PR_SET_PDEATHSIG = 1


def _fresh_lock() -> Any:
    return threading.Lock()


def _fresh_rlock() -> Any:
    return threading.RLock()


# Some moto models (SQS queues, for one) hold locks; a restored model gets new, unheld ones.
_LOCK_REDUCERS = {
    type(threading.Lock()): lambda lock: (_fresh_lock, ()),
    type(threading.RLock()): lambda lock: (_fresh_rlock, ()),
}
_DISPATCH_TABLE = {**copyreg.dispatch_table, **_LOCK_REDUCERS}


def write_in_place(state_dir: str, state: dict[str, Any]) -> None:
    """Pickle `state` to a temporary file, fsync it, and rename it over the snapshot."""
    path = os.path.join(state_dir, SNAPSHOT_FILE)
    temporary = path + ".tmp"
    write_snapshot(temporary, state, _DISPATCH_TABLE)
    os.replace(temporary, path)
    directory = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def run_child(parent: int, keep_fd: int | None, write: Callable[[], None]) -> NoReturn:
    """In the forked child: `write` the snapshot with nothing of the server's but `keep_fd`, then exit."""
    code = 1
    try:
        signal.alarm(CHILD_TIMEOUT)
        os.nice(19)  # the server's requests come first on a busy machine
        gc.disable()  # pickling makes no cycles; a collection would only copy shared pages
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(3)
        keep = keep_fd if keep_fd is not None else 2
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 16)
        write()
        code = 0
    except BaseException as error:  # no logging here: its locks may be held by a dead thread
        with contextlib.suppress(Exception):
            os.write(2, f"local_aws: snapshot child failed: {error!r}\n".encode())
    finally:
        os._exit(code)


def reap(pid: int) -> bool:
    """Wait for a snapshot child; whether it wrote the snapshot."""
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return True
    log.error(
        "snapshot child %d failed (exit %s); the journal keeps every write, retrying",
        pid,
        os.waitstatus_to_exitcode(status),
    )
    return False
