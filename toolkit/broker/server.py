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

__all__ = ["ServeOptions", "serve"]

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
