"""The state dir's guard on its own: a refused dir is not left locked by the server that refused it."""

from __future__ import annotations

import os

import pytest

from local_aws.state_dir import LOCK_FILE, StateDirError, open_state_dir


def test_a_lock_file_refused_as_untrusted_is_not_left_locked(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    lock = state_dir / LOCK_FILE
    lock.write_text("")
    lock.chmod(0o666)  # others may write it: the server must not trust the dir
    with pytest.raises(StateDirError, match="may be written by group or others"):
        open_state_dir(str(state_dir))
    # Once the owner has fixed the mode, the same process may use the dir: nothing still holds its lock.
    lock.chmod(0o600)
    descriptor = open_state_dir(str(state_dir))
    try:
        assert lock.read_text() == f"{os.getpid()}\n"
    finally:
        os.close(descriptor)


def test_a_locked_dir_is_refused_naming_the_holder(tmp_path):
    state_dir = str(tmp_path / "state")
    descriptor = open_state_dir(state_dir)
    try:
        with pytest.raises(StateDirError, match=rf"in use by another local_aws \(pid {os.getpid()}\)"):
            open_state_dir(state_dir)
    finally:
        os.close(descriptor)


def test_a_dead_servers_lingering_child_is_waited_for_not_reported_as_a_live_server(tmp_path):
    """A killed server's snapshot child shares the lock and dies a moment later: wait for it."""
    import subprocess
    import sys

    state_dir = str(tmp_path / "state")
    ready = tmp_path / "ready"
    # A "server" takes the lock and forks a child that keeps the lock's open file; the server dies
    # at once, the child holds on for a second (as a snapshot child does until its SIGKILL lands).
    script = f"""
import os, sys, time
sys.path.insert(0, {os.getcwd()!r})
from local_aws.state_dir import open_state_dir
open_state_dir({state_dir!r})
if os.fork() == 0:
    open({str(ready)!r}, "w").close()
    time.sleep(1.0)
    os._exit(0)
while not os.path.exists({str(ready)!r}):
    time.sleep(0.01)
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert ready.exists()
    descriptor = open_state_dir(state_dir)  # the child still holds it: before, "in use" at once
    try:
        assert (tmp_path / "state" / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    finally:
        os.close(descriptor)
