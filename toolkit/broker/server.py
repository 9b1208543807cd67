"""Serve the broker: uvicorn on loopback by default, TLS when given a certificate and key.

The process holds a Lease while it runs (its operations are orphaned when it stops renewing it) and sweeps for
operations orphaned by other broker processes. On SIGTERM it stops accepting requests, lets the operations it
runs finish, and gives its Lease back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from toolkit.broker.app import Broker, BrokerSettings, create_app
from toolkit.config import Config
from toolkit.errors import BrokerError

__all__ = ["BackgroundBroker", "ServeOptions", "free_port", "serve"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    access_log: bool = False


def serve(config: Config, settings: BrokerSettings, options: ServeOptions, *, ready=None) -> None:  # noqa: ANN001
    """Run until stopped; ``ready(url)`` is called once the socket listens."""
    import uvicorn

    broker = Broker(config, settings)
    broker.start()
    app = create_app(broker)
    scheme = "https" if options.tls_cert else "http"
    server = uvicorn.Server(uvicorn.Config(
        app, host=options.host, port=options.port, log_level="warning", access_log=options.access_log,
        ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
        ssl_keyfile=str(options.tls_key) if options.tls_key else None, lifespan="off"))
    if ready is not None:
        original = server.startup

        async def startup(sockets=None):  # noqa: ANN001, ANN202 - uvicorn's own signature
            await original(sockets=sockets)
            ready(f"{scheme}://{options.host}:{options.port}")

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    finally:
        broker.stop()


class BackgroundBroker:
    """A broker serving from a thread of this process (the demo, benchmarks): ``with BackgroundBroker(...) as url``."""

    def __init__(self, config: Config, settings: BrokerSettings, options: ServeOptions) -> None:
        import threading

        import uvicorn

        self.broker = Broker(config, settings)
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(self.broker), host=options.host, port=options.port, log_level="warning",
            access_log=options.access_log, lifespan="off",
            ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
            ssl_keyfile=str(options.tls_key) if options.tls_key else None))
        self.url = f"{'https' if options.tls_cert else 'http'}://{options.host}:{options.port}"
        self._thread = threading.Thread(target=self.server.run, name="osb-server", daemon=True)

    def __enter__(self) -> str:
        import time

        self.broker.start()
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.broker.stop()
                raise BrokerError(f"unable to serve the broker at {self.url}: the server did not start")
            time.sleep(0.05)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self.broker.stop()


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
