"""``python -m toolkit.localenv.backends``: the harness process (started by ``localenv.start_backends()``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.localenv.backends",
                                     description="serve real HTTP for every Ready pod labelled chartkit.io/backend")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--context")
    parser.add_argument("--port", type=int, required=True, help="control endpoint on 127.0.0.1")
    parser.add_argument("--code", default="", help="digest of the harness's code, reported by /healthz")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between pod listings")
    parser.add_argument("--linger", type=float, default=3.0, help="seconds a server outlives its pod")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from toolkit.adapters.kube import Kube
    from toolkit.localenv.backends.harness import serve

    kube = Kube(kubeconfig=args.kubeconfig, context=args.context, timeout=10.0)
    asyncio.run(serve(kube, port=args.port, code=args.code, interval=args.interval, linger=args.linger))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
