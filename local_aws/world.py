"""The shared state of one embedded-AWS process: the lock, the component stores, the components.

moto keeps its backends in module-level dictionaries, so there is exactly one `World` per process.
Every HTTP request and every data-plane step runs while holding `World.lock`: moto's models are
not written for concurrent mutation, and a snapshot for `--state-dir` must see a consistent
picture of every backend and every component's checkpoints at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_aws.components.base import Component

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"

# The moto services whose backends are served, snapshotted and restored.
SERVICES: tuple[str, ...] = (
    "athena",
    "dynamodb",
    "dynamodbstreams",
    "events",
    "firehose",
    "glue",
    "iam",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "pipes",
    "s3",
    "sns",
    "sqs",
    "ssm",
    "sts",
    "secretsmanager",
)


class WorldLock:
    """A re-entrant lock that a holder can set down for a while and pick up again.

    A Lambda invocation or a long DuckDB query must not block every other request, so code
    running under the lock wraps such waits in ``with lock.suspended():``.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()

    def _get_depth(self) -> int:
        return getattr(self._depth, "value", 0)

    def acquire(self) -> None:
        self._lock.acquire()
        self._depth.value = self._get_depth() + 1

    def release(self) -> None:
        self._depth.value = self._get_depth() - 1
        self._lock.release()

    def __enter__(self) -> WorldLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._get_depth() > 0

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Release every level this thread holds, then take them all back on exit."""
        depth = self._get_depth()
        for _ in range(depth):
            self.release()
        try:
            yield
        finally:
            for _ in range(depth):
                self.acquire()


class World:
    """Everything a component may touch: moto backends, its own store, the lock, the clock."""

    def __init__(self, state_dir: str | None = None) -> None:
        self.lock = WorldLock()
        self.state_dir = state_dir
        self.endpoint_url: str | None = None
        self.stopping = threading.Event()
        self.components: dict[str, Component] = {}
        # Component stores: plain picklable data (dicts, lists, bytes), saved with every snapshot.
        self.stores: dict[str, dict[str, Any]] = {}
        self.persistence: Any = None  # set by the server when there is a state dir
        self._dirty = threading.Event()

    # -- stores and dirtiness -------------------------------------------------------------
    def store(self, name: str) -> dict[str, Any]:
        """The persistent store of one component; keep only picklable values in it."""
        return self.stores.setdefault(name, {})

    def mark_dirty(self) -> None:
        """Say that state changed outside an HTTP request, so the next snapshot is due."""
        self._dirty.set()

    def take_dirty(self) -> bool:
        was = self._dirty.is_set()
        self._dirty.clear()
        return was

    def control_changes_settled(self) -> bool:
        """Whether every control change made so far has had its snapshot (call under the lock).

        A control change is applied in memory before its response waits (with the lock set down)
        for the snapshot that makes it durable; the data plane must not act on it before then, or a
        kill in between leaves a state dir without the change but with its effects gone too.
        """
        return self.persistence is None or self.persistence.control_changes_settled()

    # -- moto -----------------------------------------------------------------------------
    @staticmethod
    def backend(service: str, account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1") -> Any:
        """The moto backend of one service in one account and region."""
        from moto.backends import get_backend

        backends = get_backend(service)  # type: ignore[call-overload]
        if region not in backends[account_id] and "aws" in backends[account_id]:
            return backends[account_id]["aws"]  # global services such as IAM
        return backends[account_id][region]

    @staticmethod
    def backend_dicts() -> dict[str, Any]:
        from moto.backends import get_backend

        return {name: get_backend(name) for name in SERVICES}  # type: ignore[call-overload]

    def component(self, name: str) -> Component:
        return self.components[name]

    # -- writes the data plane makes --------------------------------------------------------
    def put_s3_object(self, account_id: str, bucket: str, key: str, body: bytes) -> None:
        """Write an object as a delivery service does, durably: with a state dir it is journalled.

        The caller holds the lock. Raises what moto raises (e.g. a missing bucket), so callers can
        retry, as Firehose does.
        """
        from urllib.parse import quote

        self.backend("s3", account_id).put_object(bucket, key, body)
        if self.persistence is not None:
            self.persistence.journal_effect(
                {
                    "method": "PUT",
                    "path": f"/{bucket}/{quote(key, safe='/~')}",
                    "query_string": "",
                    "headers": {"Host": "s3.amazonaws.com", "x-moto-account-id": account_id},
                    "body": body,
                }
            )


_current: World | None = None


def current() -> World:
    """The process's world; components patched into moto find it here."""
    if _current is None:
        raise RuntimeError("local_aws is not running in this process")
    return _current


def current_or_none() -> World | None:
    """The process's world, or None when no server runs here (a server checks before starting)."""
    return _current


def set_current(world: World | None) -> None:
    global _current
    _current = world
