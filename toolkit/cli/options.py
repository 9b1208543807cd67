"""Flags shared by many commands, and the one configuration they resolve to.

One flag per meaning across commands: ``--catalog`` is a catalog URL, ``--version`` (or ``TYPE@VERSION``) a
version, ``-n/--namespace`` a Kubernetes namespace. Old spellings stay one release as hidden aliases that warn.
The CLI offers the local environment as the configuration's fallback (``toolkit.localenv.fallback``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from toolkit.cli.render import warn

__all__ = ["Deprecated", "add_catalog", "add_cluster", "add_json", "add_namespace", "add_values", "config_of",
           "values_of"]


class Deprecated(argparse.Action):
    """A hidden old spelling of a flag: stores into the new flag's ``dest`` and warns once."""

    def __init__(self, option_strings: list[str], dest: str, *, replacement: str, **kwargs: Any) -> None:
        self.replacement = replacement
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn(f"{option_string} is deprecated and will be removed in the next release; use {self.replacement}")
        setattr(namespace, self.dest, values)


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_namespace(p: argparse.ArgumentParser, *, all_namespaces: bool = False, what: str = "the instance") -> None:
    p.add_argument("-n", "--namespace", default="default", help=f"Kubernetes namespace of {what} (default default)")
    if all_namespaces:
        p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def add_catalog(p: argparse.ArgumentParser, *, url: bool = True) -> None:
    if url:
        p.add_argument("--catalog", metavar="oci://HOST/PATH",
                       help="the catalog (default: CHARTKIT_CATALOG, .chartkit.yaml, ~/.config/chartkit/config.yaml, "
                            "the local registry)")
    p.add_argument("--ca-file", type=Path, help="CA the catalog registry's TLS certificate is checked against")
    p.add_argument("--registry-config", type=Path,
                   help="registry credentials, docker config.json format (default: the config file's registryConfig)")


def add_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="kubeconfig (default: KUBECONFIG, the local cluster, ~/.kube/config)")
    p.add_argument("--kube-context", help="kubeconfig context")


def config_of(args: argparse.Namespace, *, start_registry: bool = True) -> Any:
    """The one configuration from the command's flags, with the local environment as the fallback."""
    from toolkit.config import resolve
    from toolkit.localenv import fallback

    return resolve(catalog=getattr(args, "catalog", None), ca_file=getattr(args, "ca_file", None),
                   registry_config=getattr(args, "registry_config", None),
                   kubeconfig=getattr(args, "kubeconfig", None), context=getattr(args, "kube_context", None),
                   helm=getattr(args, "helm", None), timeout=getattr(args, "timeout", None) or "5m",
                   gateway=getattr(args, "gateway", None), gateway_metrics=getattr(args, "gateway_metrics", None),
                   fallback=fallback(start_registry=start_registry))


def add_values(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--values", dest="values_files", action="append", type=Path, default=[], metavar="FILE",
                   help="values file (repeatable; later wins)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                   help="set a value like helm (typed: true/false/null/integers)")
    p.add_argument("--set-string", dest="set_strings", action="append", default=[], metavar="K=V",
                   help="set a value as a string")


def values_of(args: argparse.Namespace) -> Any:
    from toolkit.core.install import ValuesInput

    return ValuesInput(files=tuple(args.values_files), sets=tuple(args.sets), set_strings=tuple(args.set_strings))
