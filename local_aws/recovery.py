"""Reading a `--state-dir` back: the snapshot, the journal after it, and both put into the world.

Every file is checked (`local_aws.journal`): a missing snapshot next to a journal that holds
writes, a damaged snapshot, or a journal record that fails its checks is refused with a message
naming the file and what to do; nothing is truncated or overwritten. ``--recover`` replays the
valid prefix of the journal, says what it dropped, and keeps the damaged file under a
``.damaged-<time>`` name; a missing or damaged snapshot cannot be rebuilt, so ``--recover`` then
sets the files aside the same way and starts empty. A record cut short at the very end of the last
journal segment is a write a kill interrupted before it was acknowledged: it is dropped silently.

Replays keep the original stream records: a journalled write is sent through moto again, and the
stream records it mints are replaced by the ones the journal kept (`local_aws.stream_effects`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.base_backend import BackendDict
from werkzeug.test import EnvironBuilder

from local_aws import stream_effects
from local_aws.journal import StateFileError, read_segment, read_snapshot
from local_aws.state_dir import SNAPSHOT_FILE, StateDirError, segments, set_aside, trust
from local_aws.world import World

log = logging.getLogger(__name__)

Records = list[tuple[int, dict[str, Any]]]


class StateReader:
    """Reads one locked state dir; refuses damage, or with `recover` sets it aside and notes what it did."""

    def __init__(self, state_dir: str, recover: bool, notes: list[str]) -> None:
        self.state_dir = state_dir
        self.recover = recover
        self.notes = notes  # what --recover set aside or dropped, for the caller to show
        self.snapshot_path = os.path.join(state_dir, SNAPSHOT_FILE)

    def read(self) -> tuple[dict[str, Any] | None, Records, list[tuple[int, str]]]:
        """The snapshot (None for a new dir), the journalled writes, and the segments they came from."""
        found = segments(self.state_dir)
        for _, path in found:
            trust(path)
        saved = self.load_snapshot(found)
        if saved is None:
            found = segments(self.state_dir)  # --recover may have set some aside
        return saved, self.read_journal(found), found

    def _note(self, message: str) -> None:
        self.notes.append(message)
        log.warning("--recover: %s", message)

    def load_snapshot(self, found: list[tuple[int, str]]) -> dict[str, Any] | None:
        """The saved snapshot, None for a new dir; refuses (or, with --recover, sets aside) a bad one."""
        if not os.path.exists(self.snapshot_path):
            holding = [path for _, path in found if holds_writes(path)]
            if not holding:
                return None
            if not self.recover:
                raise StateDirError(
                    f"{self.snapshot_path} is missing, but {holding[0]} holds writes that need it; "
                    "put the snapshot back (from a backup), or run with --recover to set the journal "
                    "aside (kept as a .damaged- copy) and start empty"
                )
            for _, path in found:
                self._note(f"{SNAPSHOT_FILE} is missing; set {path} aside as {set_aside(path)}")
            return None
        trust(self.snapshot_path)
        try:
            saved = read_snapshot(self.snapshot_path)
        except StateFileError as error:
            if not self.recover:
                raise StateDirError(
                    f"{error}; put a good snapshot back (from a backup), or run with --recover to set "
                    "it and the journal aside (kept as .damaged- copies) and start empty"
                ) from None
            self._note(f"{error}; set it aside as {set_aside(self.snapshot_path)}")
            for _, path in found:
                self._note(f"set {path} aside as {set_aside(path)}")
            return None
        if not isinstance(saved, dict) or not {"sequence", "backends", "stores"} <= saved.keys():
            raise StateDirError(f"{self.snapshot_path} is damaged: it is not a local_aws snapshot")
        return saved

    def read_journal(self, found: list[tuple[int, str]]) -> Records:
        """Every journalled write, in order; refuses (or, with --recover, cuts at) the first damage."""
        records: Records = []
        for index, (_, path) in enumerate(found):
            segment = read_segment(path, is_last=index == len(found) - 1)
            if records and segment.records and segment.records[0][0] <= records[-1][0]:
                raise StateDirError(f"{path} repeats writes of the segment before it; the journal is damaged")
            records += segment.records
            damage = segment.damage
            if damage is None:
                continue
            if not self.recover:
                raise StateDirError(
                    f"{path} is damaged at byte {damage.offset} of {damage.size}: {damage.reason}; "
                    f"run with --recover to keep the {len(records)} valid records before it and drop "
                    f"the rest (the damaged file is kept as a .damaged- copy)"
                )
            kept = set_aside(path)
            self._note(
                f"{path} is damaged at byte {damage.offset} ({damage.reason}): kept the "
                f"{len(segment.records)} records before it, dropped {damage.dropped_bytes} bytes from "
                f"offset {damage.offset}; the damaged file is kept as {kept}"
            )
            self._drop_later(found[index + 1 :])
            break
        return records

    def _drop_later(self, later: list[tuple[int, str]]) -> None:
        for _, later_path in later:
            dropped = read_segment(later_path, is_last=True).records
            self._note(
                f"dropped the {len(dropped)} records of {later_path}, which come after the damage; "
                f"kept as {set_aside(later_path)}"
            )


def holds_writes(path: str) -> bool:
    """Whether a journal segment holds any record, or damage where one may have been."""
    segment = read_segment(path, is_last=True)
    return bool(segment.records) or segment.damage is not None


def load_backends(world: World, saved: dict[str, dict[str, Any]]) -> None:
    """Put a snapshot's moto backends in place of the live ones, service by service."""
    live = world.backend_dicts()
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


def replay(app: Callable[..., Iterable[bytes]], entry: dict[str, Any]) -> None:
    """Send one journalled write through moto again, keeping the stream records it first minted."""
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
        for _ in app(environ, start_response):
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
