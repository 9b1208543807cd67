"""What a gated blue-green rollout costs beyond the waits it is configured with, on the real local Gateway.

The chat type rolls 1.0.0 → 1.1.0 over 10/25/50/100 with a pause and an analysis (two measurements) after every
traffic step, under steady load through the Gateway. Per traffic step, the overhead is everything that is not a
configured wait: the Deployment check, the route update, the analysis beyond interval × count, the pause beyond
its seconds (target ≤ 1 s). Also reported: the one-off steps (green's install, the promotion, green's removal),
how soon after the route's update at 100% the old version stopped answering, and the load's failures (0 expected).
The gateway's own added latency per request is bench_gateway.py's (read from its results when present).
Run: python bench/bench_rollout.py [--pause 2] [--interval 1] [--rate 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RESULTS, local_deploy, namespace, save  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _chat_chart(root: Path, version: str, tag: str) -> Path:
    chart = root / version / "chat"
    shutil.copytree(REPO / "charts" / "chat", chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace('tag: "1.20"', f'tag: "{tag}"', 1))
    return chart


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()

    from toolkit import localenv
    from toolkit.config import Config, GatewayRef
    from toolkit.core.install import InstallOptions, install
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish
    from toolkit.core.rollout import RolloutOptions, rollout
    from toolkit.deploy.analysis import AnalysisOptions
    from toolkit.deploy.strategies.plan import StepKind, Strategy, StrategyOptions
    from tests.localenv.traffic import Recorder

    gateway = localenv.start_gateway()
    localenv.start_backends()
    _, cluster, catalog, base, _, kube = local_deploy("bench-rollout", timeout="120s")
    config = Config(catalog, base.cluster, helm_binary=base.helm_binary, timeout="120s",
                    gateway=GatewayRef(gateway.gateway_name, gateway.gateway_namespace, gateway.metrics_url, "bench"))
    ns = namespace("bench-rollout")
    kube.create_namespace(ns)
    work = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    results: dict = {"pause_s": args.pause, "analysis_interval_s": args.interval, "analysis_count": 2,
                     "load_rps": args.rate}
    try:
        for version, tag in (("1.0.0", "1.20"), ("1.1.0", "1.21")):
            built = package(config, PackageOptions(chart=_chat_chart(work, version, tag), version=version,
                                                   destination=work, offline=True))
            publish(config, PublishOptions(packages=(built.path,))).raise_for_errors()
        install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=ns))
        analysis = AnalysisOptions.from_data({"interval": args.interval, "count": 2, "metrics": [
            {"name": "errors", "successCondition": "error_ratio < 0.01"},
            {"name": "latency", "successCondition": "p95_ms < 500"}]})
        strategy = StrategyOptions(kind=Strategy.BLUE_GREEN, steps=(10, 25, 50, 100), pause_seconds=args.pause,
                                   check_timeout_seconds=60, analysis=analysis)
        events: list[tuple[float, object]] = []
        with Recorder(gateway, f"chat.{ns}.chartkit.test", rate=args.rate) as recorder:
            started = time.monotonic()
            result = rollout(config, RolloutOptions(instance="chat", version="1.1.0", namespace=ns,
                                                    strategy=strategy),
                             progress=lambda e: events.append((time.monotonic(), e)))
            results["total_s"] = round(time.monotonic() - started, 2)
            time.sleep(1.0)
        steps = list(result.steps)
        waits = {"pause": args.pause, "analysis": analysis.seconds}
        per_step: list[float] = []
        overhead = 0.0
        for step in steps:
            extra = step["seconds"] - waits.get(step["kind"], 0.0)
            if step["kind"] in ("check", "weight", "pause", "analysis"):
                overhead += extra
                if step["kind"] == "analysis":  # the end of one traffic step (check, weight, analysis, pause)
                    per_step.append(round(overhead, 3))
                    overhead = 0.0
        if per_step and overhead:
            per_step[-1] = round(per_step[-1] + overhead, 3)
        results["traffic_step_overhead_s"] = per_step
        results["traffic_step_overhead_max_s"] = max(per_step)
        results["configured_waits_s"] = round(sum(waits.get(s["kind"], 0.0) for s in steps), 2)
        for kind in ("deploy-green", "promote", "retire-green"):
            results[f"{kind}_s"] = next(s["seconds"] for s in steps if s["kind"] == kind)
        full = next(t for t, e in events if e.step.kind is StepKind.WEIGHT and e.step.weight == 100
                    and e.status == "done")
        old = [s.sent for s in recorder.sent if s.version == "1.20" and s.sent >= full]
        results["old_version_answering_after_100pct_s"] = round(max(old) - full, 3) if old else 0.0
        first = min(s.sent for s in recorder.sent if s.status == 200)
        after = [s for s in recorder.sent if s.sent >= first]
        results["requests"] = len(after)
        results["failed_or_non_200"] = sum(s.status != 200 for s in after)
        gateway_results = RESULTS / "gateway.json"
        if gateway_results.is_file():
            measured = json.loads(gateway_results.read_text())
            results["gateway_added_p50_ms"] = measured.get("added_p50_ms")
            results["gateway_added_p95_ms"] = measured.get("added_p95_ms")
    finally:
        kube.delete("v1", "Namespace", ns, wait=False)
        kube.delete("v1", "Namespace", f"{ns}-chat-green", wait=False)
        shutil.rmtree(work, ignore_errors=True)
    path = save("rollout", results)
    print(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
