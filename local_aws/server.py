"""Start and stop the embedded AWS in this process: moto's dispatcher, the gateway, the components."""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local_aws.components import discover, dynamodb_streams
from local_aws.components.base import Component
from local_aws.components.kinesis_list_streams import install_list_streams_patch
from local_aws.components.kinesis_shard_sequence import install_kinesis_shard_patch
from local_aws.gateway import AwsRequest, Gateway
from local_aws.persistence import Persistence
from local_aws.world import World, current_or_none, set_current

log = logging.getLogger(__name__)

HEALTH_PATH = "/_local_aws/health"
# Seconds a connection may stay silent while a request is read before it is answered RequestTimeout
# and closed (S3 uses about 20 s): a client that stops mid-body must not hold a thread forever.
DEFAULT_REQUEST_TIMEOUT = 60.0


class _QuietHandler(MotoRequestHandler):
    def setup(self) -> None:
        # StreamRequestHandler.setup puts ``self.timeout`` on the socket: every read is bounded.
        self.timeout = getattr(self.server, "request_timeout", DEFAULT_REQUEST_TIMEOUT)
        super().setup()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if log.isEnabledFor(logging.DEBUG):
            super().log_request(code, size)


class LocalAWS:
    """The embedded AWS. Use as a context manager, or `start()` / `stop()`.

    Only one may run per process, because moto keeps its state in module globals.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        state_dir: str | None = None,
        snapshot_interval: float = 2.0,
        components: list[type[Component]] | None = None,
        recover: bool = False,
        background_snapshots: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.state_dir = state_dir
        self.snapshot_interval = snapshot_interval
        self._request_timeout = DEFAULT_REQUEST_TIMEOUT
        self.recover = recover  # --recover: salvage a damaged state dir instead of refusing it
        self.background_snapshots = background_snapshots
        self.component_classes = components if components is not None else discover()
        self.world = World(state_dir=state_dir)
        self.gateway: Gateway | None = None
        self.persistence: Persistence | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        assert self.world.endpoint_url, "start() first"
        return self.world.endpoint_url

    def start(self) -> LocalAWS:
        if current_or_none() is not None:
            # moto's backends are module globals: a second server would share, and on restore
            # overwrite, the first one's state.
            raise RuntimeError(
                "local_aws is already running in this process; run a second one in its own process"
            )
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalAWS:
        # moto reads these when it handles requests; a developer's real credentials are never used.
        os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")
        set_current(self.world)
        # Stream records as AWS writes them (before persistence wraps the record-minting methods).
        dynamodb_streams.install()
        install_kinesis_shard_patch()
        install_list_streams_patch()
        moto_app = DomainDispatcherApplication(create_backend_app)
        app: Any = moto_app
        if self.state_dir:
            # Created first: the gateway's app must note the stream records each write mints.
            self.persistence = Persistence(
                self.world,
                self.state_dir,
                moto_app,
                snapshot_interval=self.snapshot_interval,
                recover=self.recover,
                background_snapshots=self.background_snapshots,
            )
            app = self.persistence.recording_app
        self.gateway = Gateway(self.world, app)
        self.gateway.add_interceptor(self._health)
        self.world.gateway = self.gateway  # type: ignore[attr-defined]
        for cls in self.component_classes:
            component = cls()
            component.install(self.world)
            self.world.components[component.name] = component
        if self.persistence is not None:
            if self.persistence.restore():
                log.info("restored state from %s", self.state_dir)
            self.gateway.persistence = self.persistence
            self.world.persistence = self.persistence
        self._server = make_server(
            self.host, self.port, self.gateway, threaded=True, request_handler=_QuietHandler
        )
        self._server.request_timeout = self._request_timeout  # type: ignore[attr-defined]
        actual_port = self._server.server_address[1]
        self.world.endpoint_url = f"http://{self.host}:{actual_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="local_aws-http", daemon=True)
        self._thread.start()
        for component in self.world.components.values():
            component.start()
        if self.persistence is not None:
            self.persistence.start()
        return self

    def stop(self) -> None:
        self.world.stopping.set()
        for component in reversed(list(self.world.components.values())):
            try:
                component.stop()
            except Exception:
                log.exception("stopping %s failed", component.name)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.persistence is not None:
            self.persistence.stop()
        if current_or_none() is self.world:
            set_current(None)

    @property
    def request_timeout(self) -> float:
        """Seconds a connection may stay silent mid-request; applies to connections opened later."""
        return self._request_timeout

    @request_timeout.setter
    def request_timeout(self, seconds: float) -> None:
        self._request_timeout = seconds
        if self._server is not None:
            self._server.request_timeout = seconds  # type: ignore[attr-defined]

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _health(self, request: AwsRequest) -> tuple[str, list[tuple[str, str]], bytes] | None:
        if request.path != HEALTH_PATH:
            return None
        body = json.dumps(
            {
                "status": "running",
                "components": sorted(self.world.components),
                "state_dir": self.state_dir,
            }
        ).encode()
        return "200 OK", [("Content-Type", "application/json")], body
