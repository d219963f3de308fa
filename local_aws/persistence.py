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

Snapshots do not stall requests: the world lock is held only to rotate the journal and fork a child
that writes the snapshot (`local_aws.snapshot_child`). Writes after the fork go to a new journal
segment; the segments the snapshot covers are deleted only once the child has renamed it in place.
A control change (CreateTable, CreatePipe...) is made durable by a snapshot too, because replaying
it would mint new ARNs: its response waits for that snapshot with the world lock set down, so other
requests go on meanwhile. ``background_snapshots=False`` pickles in the lock instead (the old
behaviour, kept as the benchmark's baseline and for platforms without ``fork``).

Writes the data plane makes itself (Firehose's S3 objects) are journalled too, as the equivalent
PutObject: an object AWS has delivered is never taken back by a restart. The checkpoint that
produced it may be older than the object (it lives in the snapshot), so the same records can be
delivered again under a new name after a restart; that is Firehose's at-least-once.

The modules: this one keeps the state dir in step with the running world (journal appends, when to
snapshot); `local_aws.state_dir` guards the dir (trust, lock, file names); `local_aws.recovery`
reads it back (damage refused, or set aside with ``--recover``); `local_aws.snapshot_child` writes
a snapshot; `local_aws.journal` is the file formats.

LIMITATIONS: volatile operations (Athena StartQueryExecution, Glue StartCrawler, SQS
ReceiveMessage, Lambda Invoke) are kept only by the periodic snapshot; a query or crawl that was
running when the server died is not resumed. The journal is flushed to the operating system, not
fsynced: it survives the process being killed, not the machine losing power (snapshots are
fsynced). A control change's own response waits for a whole snapshot (seconds with a large state).
If a snapshot fails, a control change stays applied in memory and its response says success; it is
made durable by the next snapshot that succeeds. Stream records of a write replayed from the journal
keep their ids, but the Kinesis records the Pipes wrote after the last snapshot are written again by
the Pipes with new sequence numbers. What a snapshot child costs: `local_aws.snapshot_child`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from local_aws import snapshot_child, stream_effects
from local_aws.gateway import CONTROL, DATA, AwsRequest
from local_aws.journal import frame, journal_header
from local_aws.recovery import StateReader, load_backends, replay
from local_aws.state_dir import (
    JOURNAL_PATTERN,
    LOCK_FILE,
    SNAPSHOT_FILE,
    StateDirError,
    journal_name,
    open_state_dir,
    segments,
)
from local_aws.world import World

__all__ = ["JOURNAL_PATTERN", "LOCK_FILE", "SNAPSHOT_FILE", "Persistence", "StateDirError", "journal_name"]

log = logging.getLogger(__name__)


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

    # -- restore --------------------------------------------------------------------------
    def restore(self) -> bool:
        """Lock and check the dir, load the snapshot, replay the journal. False for a new dir."""
        self._lock_fd = open_state_dir(self.state_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.snapshot_path + ".tmp")  # a snapshot a kill interrupted: never in place
        saved, records, found = StateReader(self.state_dir, self.recover, self.recovery_notes).read()
        with self.world.lock:
            if saved is not None:
                load_backends(self.world, saved["backends"])
                self.world.stores.clear()
                self.world.stores.update(saved["stores"])
                self.sequence = saved["sequence"]
                self._segment = saved.get("segment", 0)
            replayed = 0
            for sequence, entry in records:
                if sequence <= self.sequence:
                    continue  # already in the snapshot: a segment whose deletion a kill prevented
                replay(self.app, entry)
                self.sequence = sequence
                replayed += 1
            if replayed:
                log.info("replayed %d journalled writes", replayed)
            self._segment = max([self._segment, *(number for number, _ in found)])
            self._retired = [path for _, path in segments(self.state_dir)]
            self._snapshot_in_lock()
        self._restored = True
        return saved is not None or replayed > 0

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

    def control_changes_settled(self) -> bool:
        """Whether the snapshot attempts have caught up with the control changes (their responses
        are sent, or about to be)."""
        with self._done:
            return self._attempted >= self._changes

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
        snapshot_child.write_in_place(self.state_dir, self._state())

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
                snapshot_child.run_child(parent, self._lock_fd, self._write)  # never returns
            self.last_pause = time.perf_counter() - held_from
        saved = snapshot_child.reap(pid)
        self._finished(covered, changes, saved)

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
            self._thread.join(timeout=snapshot_child.CHILD_TIMEOUT)
        if self._restored:  # never write over a state dir that was refused
            self.snapshot()
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
