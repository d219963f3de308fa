"""What a data-plane component is: something moto stores but does not do, done here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from local_aws.world import World


class Component:
    """One AWS behaviour that moto lacks.

    Lifecycle: `install` once per process (patch moto's models or responses; must be idempotent),
    then `start` when the server starts (background workers), `stop` when it stops. State that
    must survive a restart lives in ``world.store(self.name)``; it is pickled with every snapshot.
    """

    name: str = ""
    order: int = 100  # install/start order; lower first

    def __init__(self) -> None:
        self.world: World | None = None
        self.log = logging.getLogger(f"local_aws.{self.name}")
        self._threads: list[threading.Thread] = []

    def install(self, world: World) -> None:
        self.world = world

    def start(self) -> None:
        """Start background workers. Called after install and after any state was restored."""

    def stop(self) -> None:
        """Stop background workers; must return promptly (workers watch ``world.stopping``)."""
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run ``target`` in a daemon thread that `stop` joins."""
        thread = threading.Thread(target=target, name=f"local_aws-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread
