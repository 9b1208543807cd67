"""Publish 50 chart versions: chartkit (one process, shared HTTP session, 8 workers) vs a loop of `helm push`.

Same run, same registry, same files, fresh repository names for each side so neither skips anything.
Against an htpasswd registry every authenticated request costs a bcrypt check on the registry's CPU, so the
request count decides most of it: helm push makes ~10 per chart, chartkit 6 (+1 tag list per repository).
Run: python bench/bench_publish.py [--count 50] [--workers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import catalog_config, namespace, registry, save, timed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating which side goes first")
    args = parser.parse_args()

    from toolkit import localenv
    from toolkit.adapters.helm import Helm
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    info = registry()
    helm = Helm(localenv.helm_config(registry=info))
    packaging = catalog_config(info, "bench-pkg")  # offline: the catalog is not consulted while packaging
    env = helm.config.env()
    results: dict = {"count": args.count, "workers": args.workers, "rounds": args.rounds, "registry": info.host}
    with tempfile.TemporaryDirectory(prefix="chartkit-bench-") as tmp:
        (Path(tmp) / "src").mkdir()
        chart = Path(tmp) / "src" / "bench"
        subprocess.run([str(helm.executable), "create", str(chart)], check=True, capture_output=True)
        out = Path(tmp) / "pkgs"
        with timed(results, "package_s"):
            paths = [package(packaging, PackageOptions(chart=chart, version=f"1.0.{i}", destination=out,
                                                       offline=True)).path
                     for i in range(args.count)]

        def helm_loop() -> None:
            helm_ns = f"{info.url}/{namespace('bench-helm')}"
            for path in paths:
                subprocess.run([str(helm.executable), "push", str(path), helm_ns, "--ca-file", str(info.ca_file)],
                               check=True, capture_output=True, env=env)

        def chartkit_library() -> None:
            report = publish(catalog_config(info, "bench-ck"), PublishOptions(packages=tuple(paths),
                                                                              workers=args.workers))
            report.raise_for_errors()
            results["chartkit_requests"] = report.requests

        def chartkit_cli() -> None:
            subprocess.run([sys.executable, "-m", "toolkit.cli", "publish", *map(str, paths), "--catalog",
                            f"{info.url}/{namespace('bench-cli')}", "--ca-file", str(info.ca_file),
                            "--registry-config", str(info.registry_config), "--no-index",
                            "--workers", str(args.workers)], check=True, capture_output=True, env=dict(os.environ))

        # the machine is shared: alternate the order over rounds so load drifts hit both sides alike
        sides = {"helm_push_loop_s": helm_loop, "chartkit_library_s": chartkit_library, "chartkit_cli_s": chartkit_cli}
        totals = dict.fromkeys(sides, 0.0)
        for round_no in range(args.rounds):
            order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
            for key in order:
                with timed(results, f"round{round_no}_{key}"):
                    sides[key]()
                totals[key] += results[f"round{round_no}_{key}"]
        results.update({k: round(v, 3) for k, v in totals.items()})

        lib = catalog_config(info, "bench-ck")
        options = PublishOptions(packages=tuple(paths), workers=args.workers)
        publish(lib, options).raise_for_errors()
        with timed(results, "chartkit_republish_noop_s"):
            again = publish(lib, options)
        assert all(r.status.value == "already published" for r in again.results)

    results["speedup_library"] = round(results["helm_push_loop_s"] / results["chartkit_library_s"], 1)
    results["speedup_cli"] = round(results["helm_push_loop_s"] / results["chartkit_cli_s"], 1)
    print(json.dumps(results, indent=2))
    print(f"results in {save('publish', results)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
