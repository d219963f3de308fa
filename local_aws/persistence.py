"""`--state-dir`: snapshots of every backend and component store, plus a journal of data writes.

A snapshot is one pickle of moto's backends and the component stores, taken under the world
lock so that it is consistent: a pipe's checkpoint and the Kinesis records it wrote are either
both in it or both not. Between snapshots, every acknowledged data write (PutItem, PutRecord, an
S3 object...) is appended to the journal before its response is sent, so a killed server loses
nothing it acknowledged. On start the latest snapshot is loaded and the journal replayed through
moto; the data plane then resumes from the checkpoints in the snapshot, so work done after the
snapshot is done again (at-least-once, as in AWS).

Writes the data plane makes itself (Firehose's S3 objects) are journalled too, as the equivalent
PutObject: an object AWS has delivered is never taken back by a restart. The checkpoint that
produced it may be older than the object (it lives in the snapshot), so the same records can be
delivered again under a new name after a restart; that is Firehose's at-least-once.

LIMITATIONS: volatile operations (Athena StartQueryExecution, Glue StartCrawler, SQS
ReceiveMessage, Lambda Invoke) are kept only by the periodic snapshot; a query or crawl that was
running when the server died is not resumed. The journal is flushed to the operating system, not
fsynced: it survives the process being killed, not the machine losing power.
"""

from __future__ import annotations

import copyreg
import io
import logging
import os
import pickle
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.base_backend import BackendDict
from werkzeug.test import EnvironBuilder

from local_aws.gateway import CONTROL, DATA, AwsRequest
from local_aws.world import World

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "snapshot.pickle"
JOURNAL_FILE = "journal.log"
_FORMAT_VERSION = 1


def _fresh_lock() -> Any:
    return threading.Lock()


def _fresh_rlock() -> Any:
    return threading.RLock()


# Some moto models (SQS queues, for one) hold locks; a restored model gets new, unheld ones.
_LOCK_REDUCERS = {
    type(threading.Lock()): lambda lock: (_fresh_lock, ()),
    type(threading.RLock()): lambda lock: (_fresh_rlock, ()),
}


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, **_LOCK_REDUCERS}
    pickler.dump(value)
    return buffer.getvalue()


class Persistence:
    """Keeps one state directory in step with the running world."""

    def __init__(
        self,
        world: World,
        state_dir: str,
        app: Callable[..., Iterable[bytes]],
        snapshot_interval: float = 2.0,
    ) -> None:
        self.world = world
        self.state_dir = state_dir
        self.app = app
        self.snapshot_interval = snapshot_interval
        self.sequence = 0  # number of the last journalled write
        self._journal: Any = None
        self._pending_writes = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        os.makedirs(state_dir, exist_ok=True)

    @property
    def snapshot_path(self) -> str:
        return os.path.join(self.state_dir, SNAPSHOT_FILE)

    @property
    def journal_path(self) -> str:
        return os.path.join(self.state_dir, JOURNAL_FILE)

    # -- restore --------------------------------------------------------------------------
    def restore(self) -> bool:
        """Load the snapshot and replay the journal. Returns False for an empty state dir."""
        restored = False
        with self.world.lock:
            if os.path.exists(self.snapshot_path):
                with open(self.snapshot_path, "rb") as handle:
                    saved = pickle.load(handle)
                if saved.get("version") != _FORMAT_VERSION:
                    raise RuntimeError(
                        f"{self.snapshot_path} was written by another version of local_aws "
                        f"(format {saved.get('version')}, expected {_FORMAT_VERSION})"
                    )
                self._load_backends(saved["backends"])
                self.world.stores.clear()
                self.world.stores.update(saved["stores"])
                self.sequence = saved["sequence"]
                restored = True
            replayed = 0
            for sequence, entry in self._read_journal():
                if sequence <= self.sequence:
                    continue
                self._replay(entry)
                self.sequence = sequence
                replayed += 1
            if replayed:
                log.info("replayed %d journalled writes", replayed)
            restored = restored or replayed > 0
            self._take_snapshot()
        return restored

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

    def _read_journal(self) -> Iterable[tuple[int, dict[str, Any]]]:
        if not os.path.exists(self.journal_path):
            return
        with open(self.journal_path, "rb") as handle:
            while True:
                header = handle.read(8)
                if len(header) < 8:
                    return
                (length,) = struct.unpack(">Q", header)
                blob = handle.read(length)
                if len(blob) < length:  # a write cut short by a kill: it was never acknowledged
                    return
                yield pickle.loads(blob)

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

        for _ in self.app(environ, start_response):
            pass
        if int(captured.get("status", "500").split()[0]) >= 400:
            log.warning("journalled %s %s failed on replay: %s", entry["method"], entry["path"], captured)

    # -- recording ------------------------------------------------------------------------
    def after_request(self, request: AwsRequest) -> None:
        """Called under the world lock after moto accepted a request."""
        if request.kind == DATA:
            self._append(request.journal_entry)
        elif request.kind == CONTROL:
            self._take_snapshot()
        else:
            self.world.mark_dirty()

    def journal_effect(self, entry: dict[str, Any]) -> None:
        """Journal a write the data plane made itself (the caller holds the world lock).

        ``entry`` is the equivalent HTTP request (method, path, query_string, headers, body); on
        restore it is replayed through moto like a client's write.
        """
        self._append(entry)

    def _append(self, entry: dict[str, Any]) -> None:
        self.sequence += 1
        blob = _dumps((self.sequence, entry))
        if self._journal is None:
            self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - kept open between writes
        self._journal.write(struct.pack(">Q", len(blob)) + blob)
        self._journal.flush()
        self._pending_writes += 1

    # -- snapshots ------------------------------------------------------------------------
    def _take_snapshot(self) -> None:
        """Write a snapshot; the caller holds the world lock."""
        blob = _dumps(
            {
                "version": _FORMAT_VERSION,
                "sequence": self.sequence,
                "backends": {name: dict(bd) for name, bd in self.world.backend_dicts().items()},
                "stores": self.world.stores,
                "written_at": time.time(),
            }
        )
        temporary = self.snapshot_path + ".tmp"
        with open(temporary, "wb") as handle:
            handle.write(blob)
        os.replace(temporary, self.snapshot_path)
        # Everything journalled is in the snapshot now; start the journal afresh.
        if self._journal is not None:
            self._journal.close()
        self._journal = open(self.journal_path, "wb")  # noqa: SIM115
        self._pending_writes = 0
        self.world.take_dirty()

    def snapshot(self) -> None:
        with self.world.lock:
            self._take_snapshot()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="local_aws-snapshots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.snapshot_interval):
            with self.world.lock:
                if self._pending_writes or self.world.take_dirty():
                    try:
                        self._take_snapshot()
                    except Exception:  # keep serving; the journal still holds the writes
                        log.exception("snapshot failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.snapshot()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
