"""``chartkit env|up|down``: the local helm, registry and cluster (the local environment front door)."""

from __future__ import annotations

import argparse
from typing import Any

from toolkit.cli.render import print_json, progress

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    env = sub.add_parser("env", help="show the helm, registry and cluster chartkit uses (starts nothing)")
    env.add_argument("--json", action="store_true", help="machine-readable output")
    env.set_defaults(handler=_env)
    up = sub.add_parser("up", help="build (first time) and start the local registry, cluster, gateway and backends")
    up.add_argument("--no-cluster", action="store_true", help="only helm and the registry")
    up.add_argument("--json", action="store_true", help="print `chartkit env --json` afterwards")
    up.set_defaults(handler=_up)
    down = sub.add_parser("down", help="stop the local registry and cluster (by pid) and remove their state")
    down.add_argument("--keep-data", action="store_true", help="keep certificates, registry blobs and etcd data")
    down.set_defaults(handler=_down)


def _print_env(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    helm, registry, cluster = data["helm"], data["registry"], data["cluster"]
    print(f"helm      {helm['path']} ({helm['version']}, from {helm['source']})" if helm
          else f"helm      none: {data.get('helm_hint', 'run `invoke up`')}")
    print(f"registry  {registry['url']}  ca_file={registry['ca_file']}  registry_config={registry['registry_config']}"
          if registry else "registry  not running (`chartkit up` starts it)")
    print(f"cluster   {cluster['server']} {cluster['version']}  kubeconfig={cluster['kubeconfig']}  "
          f"context={cluster['context']}" if cluster else "cluster   not running (`chartkit up` starts it)")
    gateway, backends = data.get("gateway"), data.get("backends")
    print(f"gateway   {gateway['url']} (traefik {gateway['version']}, Gateway {gateway['gateway_namespace']}/"
          f"{gateway['gateway_name']})  metrics={gateway['metrics_url']}" if gateway
          else "gateway   not running (`chartkit up` starts it)")
    print(f"backends  {backends['url']}  serving pods labelled {backends['label']} ({backends['pod_cidr']})"
          if backends else "backends  not running (`chartkit up` starts them)")


def _env(args: argparse.Namespace) -> int:
    from toolkit import localenv

    _print_env(localenv.status(), args.json)
    return 0


def _up(args: argparse.Namespace) -> int:
    from toolkit import localenv

    say = progress()
    localenv.ensure_helm(say)
    localenv.ensure_kustomize(say)
    localenv.start_registry(say)
    if not args.no_cluster:
        localenv.start_cluster(say)
        localenv.start_gateway(say)
        localenv.start_backends(say)
    _print_env(localenv.status(), args.json)
    return 0


def _down(args: argparse.Namespace) -> int:
    from toolkit import localenv

    stopped = localenv.down(keep_data=args.keep_data)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0
