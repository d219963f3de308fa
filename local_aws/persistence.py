"""`--state-dir`: snapshots of every backend and component store, plus a journal of data writes.

A snapshot is one pickle of moto's backends and the component stores, taken at one instant under
the world lock so that it is consistent: a pipe's checkpoint and the Kinesis records it wrote are
either both in it or both not. Between snapshots, every acknowledged data write (PutItem,
PutRecord, an S3 object...) is appended to the journal before its response is sent, so a killed
server loses nothing it acknowledged. On start the latest snapshot is loaded and the journal
replayed through moto; the data plane then resumes from the checkpoints in the snapshot, so work
done after the snapshot is done again (at-least-once, as in AWS).

Replays keep the original stream records. With every DynamoDB or Kinesis write the journal keeps
the stream records moto minted for it (`local_aws.stream_effects`); a replay puts those back
instead of minting new ones, so a change read again after a restart has the same ``eventID`` and
``SequenceNumber`` (DynamoDB Streams) or the same sequence number and arrival time (Kinesis), and
dedupe by event id removes the copies that at-least-once delivery makes.

Snapshots do not stall requests. Like Redis's BGSAVE, the world lock is held only to rotate the
journal and ``fork()``: the child pickles its copy-on-write image of the world into
``snapshot.pickle.tmp``, fsyncs it and renames it in place, then leaves with ``os._exit``, touching
nothing else (no logging, no locks, no sockets: it closes every inherited descriptor but the state
dir lock, and dies with its parent). Writes after the fork go to a new journal segment; the
segments the snapshot covers are deleted only once the child has renamed it in place. A control
change (CreateTable, CreatePipe...) is made durable by a snapshot too, because replaying it would
mint new ARNs: its response waits for that snapshot with the world lock set down, so other
requests go on meanwhile. ``background_snapshots=False`` pickles in the lock instead (the old
behaviour, kept as the benchmark's baseline and for platforms without ``fork``).

Writes the data plane makes itself (Firehose's S3 objects) are journalled too, as the equivalent
PutObject: an object AWS has delivered is never taken back by a restart. The checkpoint that
produced it may be older than the object (it lives in the snapshot), so the same records can be
delivered again under a new name after a restart; that is Firehose's at-least-once.

The state dir is guarded. It is locked (``flock`` on ``local_aws.lock``, which names the holder's
pid) for the server's life, so a second server on it refuses to start. It is 0700 and its files
0600, whatever the umask; an existing dir is tightened. The snapshot is a pickle of moto's objects,
which runs code when loaded, so a state dir must be trusted: the server refuses a dir or file that
another user owns or that group or others may write. Journal records are read as data only.
Every file is checked (`local_aws.journal`): a missing snapshot next to a journal that holds
writes, a damaged snapshot, or a journal record that fails its checks is refused with a message
naming the file and what to do; nothing is truncated or overwritten. ``--recover`` replays the
valid prefix of the journal, says what it dropped, and keeps the damaged file under a
``.damaged-<time>`` name; a missing or damaged snapshot cannot be rebuilt, so ``--recover`` then
sets the files aside the same way and starts empty. A record cut short at the very end of the last
journal segment is a write a kill interrupted before it was acknowledged: it is dropped silently.

LIMITATIONS: volatile operations (Athena StartQueryExecution, Glue StartCrawler, SQS
ReceiveMessage, Lambda Invoke) are kept only by the periodic snapshot; a query or crawl that was
running when the server died is not resumed. The journal is flushed to the operating system, not
fsynced: it survives the process being killed, not the machine losing power (snapshots are
fsynced). A snapshot child may need as much memory again as the world: CPython's reference counts
make it write to, and so copy, nearly every page it pickles. While it pickles it competes with the
server for CPU and memory bandwidth, so requests slow down though none waits for the lock (see
bench/bench_snapshot.py for the figures). A control change's own response waits for a whole
snapshot (seconds with a large state). Only Linux kills a snapshot child with its parent;
elsewhere an orphaned child still holds the lock until it has finished. If a snapshot fails, a control change stays applied in
memory and its response says success; it is made durable by the next snapshot that succeeds.
Stream records of a write replayed from the journal keep their ids, but the Kinesis records the
Pipes wrote after the last snapshot are written again by the Pipes with new sequence numbers.
"""

from __future__ import annotations

import contextlib
import copyreg
import ctypes
import errno
import fcntl
import gc
import logging
import os
import re
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.base_backend import BackendDict
from werkzeug.test import EnvironBuilder

from local_aws import stream_effects
from local_aws.gateway import CONTROL, DATA, AwsRequest
from local_aws.journal import (
    StateFileError,
    frame,
    journal_header,
    read_segment,
    read_snapshot,
    write_snapshot,
)
from local_aws.world import World

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "snapshot.pickle"
LOCK_FILE = "local_aws.lock"
JOURNAL_PATTERN = re.compile(r"^journal\.(\d{10})\.log$")
_CHILD_TIMEOUT = 1800  # seconds a snapshot child may run before SIGALRM ends it
_PR_SET_PDEATHSIG = 1


class StateDirError(Exception):
    """The state dir cannot be used as it is; the message says which file and what to do."""


def journal_name(number: int) -> str:
    return f"journal.{number:010d}.log"


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


class Persistence:
    """Keeps one state directory in step with the running world."""

    def __init__(
        self,
        world: World,
        state_dir: str,
        app: Callable[..., Iterable[bytes]],
        snapshot_interval: float = 2.0,
        recover: bool = False,
        background_snapshots: bool = True,
    ) -> None:
        self.world = world
        self.state_dir = os.path.abspath(state_dir)
        self.app = app
        self.snapshot_interval = snapshot_interval
        self.recover = recover
        self.background_snapshots = background_snapshots and hasattr(os, "fork")
        self.sequence = 0  # number of the last journalled write
        self.recovery_notes: list[str] = []  # what --recover set aside or dropped
        self._lock_fd: int | None = None
        self._restored = False
        self._journal_fd: int | None = None
        self._journal_size = 0  # bytes in the open segment: where a failed append is cut back to
        self._segment = 0  # number of the segment being appended to
        self._retired: list[str] = []  # segments a snapshot that has not yet succeeded covers
        self._pending_writes = 0
        self._changes = 0  # control changes made (under the world lock)
        self._durable = 0  # control changes a finished snapshot holds
        self._attempted = 0  # control changes the latest finished attempt covered, saved or not
        self._retry = False
        self.last_pause = 0.0  # seconds the latest snapshot held the world lock (for bench/)
        self._done = threading.Condition()
        self._wake = threading.Event()
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        stream_effects.install()

    @property
    def snapshot_path(self) -> str:
        return os.path.join(self.state_dir, SNAPSHOT_FILE)

    # -- the state dir itself ---------------------------------------------------------------
    def _open_dir(self) -> None:
        """Create or tighten the dir, check it may be trusted, and lock it for this process."""
        try:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        except OSError as error:
            raise StateDirError(f"cannot create the state dir {self.state_dir}: {error.strerror}") from None
        info = os.stat(self.state_dir)
        if not stat.S_ISDIR(info.st_mode):
            raise StateDirError(f"{self.state_dir} is not a directory")
        if info.st_uid != os.geteuid():
            raise StateDirError(
                f"{self.state_dir} belongs to uid {info.st_uid}, not to this server's user "
                f"(uid {os.geteuid()}); a state dir's snapshot runs code when loaded, so use a dir of your own"
            )
        if stat.S_IMODE(info.st_mode) != 0o700:  # makedirs honours the umask; an old dir was 0755
            os.chmod(self.state_dir, 0o700)
        self._take_lock()

    def _take_lock(self) -> None:
        path = os.path.join(self.state_dir, LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise StateDirError(f"cannot open {path}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StateDirError(f"cannot lock {path}: {error.strerror}") from None
            raise StateDirError(
                f"{self.state_dir} is in use by another local_aws (pid {holder}); stop that one first, "
                "or give this one another --state-dir"
            ) from None
        self._trust(path)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _trust(self, path: str) -> None:
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

    def _segments(self) -> list[tuple[int, str]]:
        found = []
        for name in os.listdir(self.state_dir):
            match = JOURNAL_PATTERN.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.state_dir, name)))
        return sorted(found)

    def _set_aside(self, path: str) -> str:
        kept = f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        os.rename(path, kept)
        return kept

    def _note(self, message: str) -> None:
        self.recovery_notes.append(message)
        log.warning("--recover: %s", message)

    # -- restore --------------------------------------------------------------------------
    def restore(self) -> bool:
        """Lock and check the dir, load the snapshot, replay the journal. False for a new dir."""
        self._open_dir()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.snapshot_path + ".tmp")  # a snapshot a kill interrupted: never in place
        segments = self._segments()
        for _, path in segments:
            self._trust(path)
        saved = self._load_snapshot(segments)
        if saved is None:
            segments = self._segments()  # --recover may have set some aside
        records = self._read_journal(segments)
        with self.world.lock:
            if saved is not None:
                self._load_backends(saved["backends"])
                self.world.stores.clear()
                self.world.stores.update(saved["stores"])
                self.sequence = saved["sequence"]
                self._segment = saved.get("segment", 0)
            replayed = 0
            for sequence, entry in records:
                if sequence <= self.sequence:
                    continue  # already in the snapshot: a segment whose deletion a kill prevented
                self._replay(entry)
                self.sequence = sequence
                replayed += 1
            if replayed:
                log.info("replayed %d journalled writes", replayed)
            self._segment = max([self._segment, *(number for number, _ in segments)])
            self._retired = [path for _, path in self._segments()]
            self._snapshot_in_lock()
        self._restored = True
        return saved is not None or replayed > 0

    def _load_snapshot(self, segments: list[tuple[int, str]]) -> dict[str, Any] | None:
        """The saved snapshot, None for a new dir; refuses (or, with --recover, sets aside) a bad one."""
        if not os.path.exists(self.snapshot_path):
            holding = [path for _, path in segments if self._holds_writes(path)]
            if not holding:
                return None
            if not self.recover:
                raise StateDirError(
                    f"{self.snapshot_path} is missing, but {holding[0]} holds writes that need it; "
                    "put the snapshot back (from a backup), or run with --recover to set the journal "
                    "aside (kept as a .damaged- copy) and start empty"
                )
            for _, path in segments:
                self._note(f"{SNAPSHOT_FILE} is missing; set {path} aside as {self._set_aside(path)}")
            return None
        self._trust(self.snapshot_path)
        try:
            saved = read_snapshot(self.snapshot_path)
        except StateFileError as error:
            if not self.recover:
                raise StateDirError(
                    f"{error}; put a good snapshot back (from a backup), or run with --recover to set "
                    "it and the journal aside (kept as .damaged- copies) and start empty"
                ) from None
            self._note(f"{error}; set it aside as {self._set_aside(self.snapshot_path)}")
            for _, path in segments:
                self._note(f"set {path} aside as {self._set_aside(path)}")
            return None
        if not isinstance(saved, dict) or not {"sequence", "backends", "stores"} <= saved.keys():
            raise StateDirError(f"{self.snapshot_path} is damaged: it is not a local_aws snapshot")
        return saved

    @staticmethod
    def _holds_writes(path: str) -> bool:
        segment = read_segment(path, is_last=True)
        return bool(segment.records) or segment.damage is not None

    def _read_journal(self, segments: list[tuple[int, str]]) -> list[tuple[int, dict[str, Any]]]:
        """Every journalled write, in order; refuses (or, with --recover, cuts at) the first damage."""
        records: list[tuple[int, dict[str, Any]]] = []
        for index, (_, path) in enumerate(segments):
            segment = read_segment(path, is_last=index == len(segments) - 1)
            if records and segment.records and segment.records[0][0] <= records[-1][0]:
                raise StateDirError(f"{path} repeats writes of the segment before it; the journal is damaged")
            records += segment.records
            damage = segment.damage
            if damage is None:
                continue
            later = segments[index + 1 :]
            if not self.recover:
                raise StateDirError(
                    f"{path} is damaged at byte {damage.offset} of {damage.size}: {damage.reason}; "
                    f"run with --recover to keep the {len(records)} valid records before it and drop "
                    f"the rest (the damaged file is kept as a .damaged- copy)"
                )
            kept = self._set_aside(path)
            self._note(
                f"{path} is damaged at byte {damage.offset} ({damage.reason}): kept the "
                f"{len(segment.records)} records before it, dropped {damage.dropped_bytes} bytes from "
                f"offset {damage.offset}; the damaged file is kept as {kept}"
            )
            for _, later_path in later:
                dropped = read_segment(later_path, is_last=True).records
                self._note(
                    f"dropped the {len(dropped)} records of {later_path}, which come after the damage; "
                    f"kept as {self._set_aside(later_path)}"
                )
            break
        return records

    def _load_backends(self, saved: dict[str, dict[str, Any]]) -> None:
        live = self.world.backend_dicts()
        for service, accounts in saved.items():
            backend_dict = live.get(service)
            if backend_dict is None:
                continue
            dict.clear(backend_dict)
            for account_id, account_backends in accounts.items():
                dict.__setitem__(backend_dict, account_id, account_backends)
            # moto resets only the backends it has registered as in use.
            if backend_dict not in BackendDict._instances:
                BackendDict._instances.append(backend_dict)

    def _replay(self, entry: dict[str, Any]) -> None:
        builder = EnvironBuilder(
            method=entry["method"],
            path=entry["path"],
            query_string=entry["query_string"],
            headers=entry["headers"],
            data=entry["body"],
        )
        environ = builder.get_environ()
        captured: dict[str, str] = {}

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"] = status
            return lambda chunk: None

        with stream_effects.recording() as minted:
            for _ in self.app(environ, start_response):
                pass
        if int(captured.get("status", "500").split()[0]) >= 400:
            log.warning("journalled %s %s failed on replay: %s", entry["method"], entry["path"], captured)
        kept = entry.get("stream_records")
        if kept is not None and not stream_effects.restore(minted, kept):
            log.warning(
                "journalled %s %s minted other stream records on replay; kept moto's",
                entry["method"],
                entry["path"],
            )

    # -- recording ------------------------------------------------------------------------
    def recording_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """moto's app, noting the stream records a request mints for `after_request` to journal."""
        with stream_effects.recording() as minted:
            chunks = self.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close:
                    close()
        self._local.minted = minted
        return [body]

    def after_request(self, request: AwsRequest) -> None:
        """Called under the world lock after moto accepted a request."""
        minted = self._local.__dict__.pop("minted", [])
        if request.kind == DATA:
            entry = request.journal_entry
            if minted:
                entry = {**entry, "stream_records": stream_effects.journalled(minted)}
            self._append(entry)
        elif request.kind == CONTROL:
            self._make_durable()
        else:
            self.world.mark_dirty()

    def journal_effect(self, entry: dict[str, Any]) -> None:
        """Journal a write the data plane made itself (the caller holds the world lock).

        ``entry`` is the equivalent HTTP request (method, path, query_string, headers, body); on
        restore it is replayed through moto like a client's write.
        """
        self._append(entry)

    def _append(self, entry: dict[str, Any]) -> None:
        """Append one record, whole, before the response goes out; on failure, leave no part of it.

        An OSError (a full disk) fails the request: it is not acknowledged.
        """
        if self._journal_fd is None:
            self._open_segment()  # a rotation that failed to open the next segment
        assert self._journal_fd is not None
        data = memoryview(frame(self.sequence + 1, entry))
        start = self._journal_size
        try:
            while data:
                written = os.write(self._journal_fd, data)
                self._journal_size += written
                data = data[written:]
        except OSError:
            # A torn record in the middle of a segment would read as damage after the next one.
            os.ftruncate(self._journal_fd, start)
            self._journal_size = start
            raise
        self.sequence += 1
        self._pending_writes += 1

    def _make_durable(self) -> None:
        """A control change is acknowledged once a snapshot holds it (the caller holds the lock)."""
        if not self.background_snapshots or self._thread is None:
            self._snapshot_in_lock()
            return
        self._changes += 1
        wanted = self._changes
        self._wake.set()
        with self.world.lock.suspended():
            self._wait_for(wanted)

    def _wait_for(self, wanted: int) -> None:
        with self._done:
            while self._attempted < wanted and not self._stop.is_set():
                self._done.wait(timeout=1.0)

    # -- snapshots ------------------------------------------------------------------------
    def _rotate(self) -> list[str]:
        """Start a new journal segment; return the segments the coming snapshot covers."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
            self._retired.append(os.path.join(self.state_dir, journal_name(self._segment)))
        self._open_segment()
        self._pending_writes = 0
        self.world.take_dirty()
        return list(self._retired)

    def _open_segment(self) -> None:
        self._segment += 1
        path = os.path.join(self.state_dir, journal_name(self._segment))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        header = journal_header()
        try:
            if os.write(descriptor, header) != len(header):
                raise OSError(errno.ENOSPC, f"cannot write the header of {path}")
        except OSError:
            os.close(descriptor)
            os.unlink(path)  # a headless segment before later ones would read as damage
            raise
        self._journal_fd, self._journal_size = descriptor, len(header)

    def _state(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "segment": self._segment,
            "backends": {name: dict(bd) for name, bd in self.world.backend_dicts().items()},
            "stores": self.world.stores,
            "written_at": time.time(),
        }

    def _write(self) -> None:
        temporary = self.snapshot_path + ".tmp"
        write_snapshot(temporary, self._state(), _DISPATCH_TABLE)
        os.replace(temporary, self.snapshot_path)
        directory = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def _finished(self, covered: list[str], changes: int, saved: bool) -> None:
        if saved:
            for path in covered:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self._retired = [path for path in self._retired if path not in covered]
        else:
            self._retry = True
        with self._done:
            self._attempted = max(self._attempted, changes)
            if saved:
                self._durable = max(self._durable, changes)
            self._done.notify_all()

    def _snapshot_in_lock(self) -> None:
        """Pickle and write a snapshot while holding the world lock (start, stop, baseline)."""
        with self.world.lock:
            held_from = time.perf_counter()
            changes = self._changes
            covered = self._rotate()
            self._write()
            self._retry = False
            self._finished(covered, changes, saved=True)
            self.last_pause = time.perf_counter() - held_from

    def snapshot(self) -> None:
        """Write a snapshot now, in the lock."""
        self._snapshot_in_lock()

    def _snapshot_in_child(self) -> None:
        """BGSAVE: rotate and fork in the lock, let the child write, wait for it outside the lock."""
        with self.world.lock:
            if not (
                self._pending_writes
                or self.world.take_dirty()
                or self._retry
                or self._changes > self._durable
            ):
                return
            held_from = time.perf_counter()
            changes = self._changes
            covered = self._rotate()
            self._retry = False
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                self._child(parent)  # never returns
            self.last_pause = time.perf_counter() - held_from
        saved = self._reap(pid)
        self._finished(covered, changes, saved)

    def _child(self, parent: int) -> None:
        code = 1
        try:
            signal.alarm(_CHILD_TIMEOUT)
            os.nice(19)  # the server's requests come first on a busy machine
            gc.disable()  # pickling makes no cycles; a collection would only copy shared pages
            if sys.platform.startswith("linux"):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(3)
            keep = self._lock_fd if self._lock_fd is not None else 2
            os.closerange(3, keep)
            os.closerange(keep + 1, 1 << 16)
            self._write()
            code = 0
        except BaseException as error:  # no logging here: its locks may be held by a dead thread
            with contextlib.suppress(Exception):
                os.write(2, f"local_aws: snapshot child failed: {error!r}\n".encode())
        finally:
            os._exit(code)

    def _reap(self, pid: int) -> bool:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) == 0:
            return True
        log.error(
            "snapshot child %d failed (exit %s); the journal keeps every write, retrying",
            pid,
            os.waitstatus_to_exitcode(status),
        )
        return False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="local_aws-snapshots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.snapshot_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.background_snapshots:
                    self._snapshot_in_child()
                else:
                    with self.world.lock:
                        if self._pending_writes or self.world.take_dirty() or self._changes > self._durable:
                            self._snapshot_in_lock()
            except Exception:  # keep serving; the journal still holds the writes
                log.exception("snapshot failed")
                # Release the control changes waiting for it; the next snapshot retries.
                self._finished([], self._changes, saved=False)

    def request_snapshot(self) -> int:
        """Ask the snapshot thread for a snapshot of the world as it is now; `wait_for` the token."""
        with self.world.lock:
            self._changes += 1
            wanted = self._changes
        self._wake.set()
        return wanted

    def wait_for(self, token: int) -> None:
        self._wait_for(token)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=_CHILD_TIMEOUT)
        if self._restored:  # never write over a state dir that was refused
            self.snapshot()
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
