"""Serve the console: uvicorn on loopback unless told otherwise, TLS when given a certificate and key.

The front end is the build of ``web/`` (``toolkit.localenv.web``: npm ci + vite build into chartkit's cache, keyed
by the sources, so it is built once and reused) unless ``--assets DIR`` or ``CHARTKIT_CONSOLE_ASSETS`` names a
build made elsewhere (a packaged install).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolkit.config import Config
from toolkit.console.app import ConsoleSettings, create_app
from toolkit.console.auth import Gate
from toolkit.errors import InputError

__all__ = ["ServeOptions", "assets", "is_loopback", "serve", "web_dir"]

log = logging.getLogger(__name__)


def web_dir() -> Path:
    return Path(__file__).resolve().parent / "web"


def assets(explicit: Path | None = None, progress: Callable[[str], None] | None = None) -> Path:
    """The built front end: ``explicit``, else ``CHARTKIT_CONSOLE_ASSETS``, else built from ``web/`` (cached)."""
    chosen = explicit or (Path(os.environ["CHARTKIT_CONSOLE_ASSETS"]) if os.environ.get("CHARTKIT_CONSOLE_ASSETS")
                          else None)
    if chosen is not None:
        if not (chosen / "index.html").is_file():
            raise InputError(f'unable to serve the console from "{chosen}": it holds no index.html',
                             hint="point --assets at a vite build (its dist directory)")
        return chosen
    from toolkit.localenv.web import ensure_web_assets

    return ensure_web_assets(web_dir(), progress)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8090                      # 0: any free port (``ready`` says which)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    access_log: bool = False


def serve(config: Config, gate: Gate, settings: ConsoleSettings, options: ServeOptions, *,
          ready: Callable[[str], None] | None = None) -> None:
    """Run until stopped; ``ready(url)`` once the socket listens. Exposed beyond loopback only with users."""
    import uvicorn

    if not gate.access and not is_loopback(options.host):
        raise InputError(f'unable to serve the console on "{options.host}" without authentication',
                         hint="pass --access-file FILE or --access-secret NS/NAME (see `chartkit console --help`)")
    if bool(options.tls_cert) != bool(options.tls_key):
        raise InputError("unable to serve HTTPS: give both --tls-cert and --tls-key")
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, options.port))
    except OSError as exc:
        sock.close()
        raise InputError(f'unable to listen on "{options.host}:{options.port}": {exc.strerror}',
                         hint="choose another --port (0 picks a free one)") from exc
    port = sock.getsockname()[1]
    scheme = "https" if options.tls_cert else "http"
    host = f"[{options.host}]" if family == socket.AF_INET6 else options.host
    app = create_app(config, gate, settings)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", access_log=options.access_log, lifespan="on",
        ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
        ssl_keyfile=str(options.tls_key) if options.tls_key else None, timeout_graceful_shutdown=3))
    if ready is not None:
        original = server.startup

        async def startup(sockets=None):  # noqa: ANN001, ANN202 - uvicorn's own signature
            await original(sockets=sockets)
            ready(f"{scheme}://{host}:{port}")

        server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
