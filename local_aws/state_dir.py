"""The `--state-dir` on disk: its files' names, and a dir that is trusted and held by one server.

The state dir is locked (``flock`` on ``local_aws.lock``, which names the holder's pid) for the
server's life, so a second server on it refuses to start. When the server the lock file names is
dead, the lock may still be held for a moment by its snapshot child, which dies with it: that is
waited for (up to 10 s), not reported as a live server. It is 0700 and its files 0600, whatever
the umask; an existing dir is tightened. The snapshot is a pickle of moto's objects, which runs code
when loaded, so a state dir must be trusted: the server refuses a dir or file that another user owns
or that group or others may write. A file that cannot be used is never deleted: `set_aside` keeps it
under a ``.damaged-<time>`` name.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import time

SNAPSHOT_FILE = "snapshot.pickle"
LOCK_FILE = "local_aws.lock"
JOURNAL_PATTERN = re.compile(r"^journal\.(\d{10})\.log$")


class StateDirError(Exception):
    """The state dir cannot be used as it is; the message says which file and what to do."""


def journal_name(number: int) -> str:
    return f"journal.{number:010d}.log"


def open_state_dir(state_dir: str) -> int:
    """Create or tighten the dir, check it may be trusted, and lock it; the lock's descriptor."""
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
    except OSError as error:
        raise StateDirError(f"cannot create the state dir {state_dir}: {error.strerror}") from None
    info = os.stat(state_dir)
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirError(f"{state_dir} is not a directory")
    if info.st_uid != os.geteuid():
        raise StateDirError(
            f"{state_dir} belongs to uid {info.st_uid}, not to this server's user "
            f"(uid {os.geteuid()}); a state dir's snapshot runs code when loaded, so use a dir of your own"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:  # makedirs honours the umask; an old dir was 0755
        os.chmod(state_dir, 0o700)
    return _take_lock(state_dir)


def _take_lock(state_dir: str) -> int:
    path = os.path.join(state_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise StateDirError(f"cannot open {path}: {error.strerror}") from None
    try:
        _flock_unless_held_by_a_live_server(fd)
    except OSError as error:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StateDirError(f"cannot lock {path}: {error.strerror}") from None
        raise StateDirError(
            f"{state_dir} is in use by another local_aws (pid {holder}); stop that one first, "
            "or give this one another --state-dir"
        ) from None
    try:
        trust(path)
    except StateDirError:
        os.close(fd)  # releases the flock: a refused dir is not held
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


#: How long a lock whose named holder has died may stay held: a killed server's snapshot child shares
#: the lock's open file and is killed with its parent (PR_SET_PDEATHSIG), but not in the same instant.
_DEAD_HOLDER_GRACE_SECONDS = 10.0


def _holder_alive(fd: int) -> bool:
    text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    if not text.isdigit():
        return True  # nobody named: assume a live holder, as before
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _flock_unless_held_by_a_live_server(fd: int) -> None:
    """Lock at once; while the server named in the file is dead, wait briefly for its child to go."""
    deadline = time.monotonic() + _DEAD_HOLDER_GRACE_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            busy = error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
            if not busy or _holder_alive(fd) or time.monotonic() >= deadline:
                raise
        time.sleep(0.05)


def trust(path: str) -> None:
    """Refuse a file another user owns or others may write; make it 0600."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise StateDirError(f"{path} is not a regular file; move it out of the state dir")
    if info.st_uid != os.geteuid():
        raise StateDirError(
            f"{path} belongs to uid {info.st_uid}, not to this server's user (uid {os.geteuid()}); "
            "a state dir must be trusted, so the server will not load it"
        )
    if info.st_mode & 0o022:
        raise StateDirError(
            f"{path} may be written by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "a state dir must be trusted, so the server will not load it"
        )
    if stat.S_IMODE(info.st_mode) != 0o600:
        os.chmod(path, 0o600)


def segments(state_dir: str) -> list[tuple[int, str]]:
    """The journal segments in the dir, as (number, path), oldest first."""
    found = []
    for name in os.listdir(state_dir):
        match = JOURNAL_PATTERN.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(state_dir, name)))
    return sorted(found)


def set_aside(path: str) -> str:
    """Rename a file that cannot be used to ``<path>.damaged-<UTC time>``; the new name."""
    kept = f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    os.rename(path, kept)
    return kept
