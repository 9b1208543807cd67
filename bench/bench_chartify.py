"""chartify vs helmify on the same inputs, in one run: wall time and fidelity of both.

Inputs: the largest corpus manifest (online-boutique, 24 objects), argo-cd's install.yaml (v3.5.1, 1.9 MB, 59
objects; downloaded once into ~/.cache/chartkit/bench/, never committed), a synthetic 1,000-object app
(bench/synth_app.py), and the same without Secrets (helmify turns Secret data into required values, so its chart
cannot render with defaults). Targets (issue 9): at most 0.10 s for online-boutique, at most 1.0x helmify on argo-cd.
toolkit is byte-compiled first, as a regular pip install does (an editable install under PYTHONDONTWRITEBYTECODE
would recompile every module on every run).
Time: command line to command line (a fresh process each, as a user runs them), runs interleaved, median of
``--runs``; chartkit without its built-in verify (helmify has none), plus one run with it. Fidelity: each tool's
chart rendered by ``helm template`` with defaults, compared object by object with the cleaned source using
chartkit's comparator (key order and chart-added top-level labels ignored). helmify renames every object
``<release>-<name>``, so it is scored twice: strictly (names must match, as adoption needs) and with names
aligned (content only).

    python bench/bench_chartify.py [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
ARGO_CD_VERSION = "v3.5.1"
ARGO_CD_URL = f"https://raw.githubusercontent.com/argoproj/argo-cd/{ARGO_CD_VERSION}/manifests/install.yaml"
ARGO_CD_SHA256 = "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3"
TARGET_SMALL_SECONDS = 0.10  # online-boutique
TARGET_ARGO_CD_RATIO = 1.0  # chartkit / helmify
#: the chartkit under test, whatever the editable install points at
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def argo_cd_install() -> Path:
    """argo-cd's install.yaml at the pinned version, from the bench cache (downloaded and checked on first use)."""
    from toolkit.localenv import paths

    path = paths.cache_root() / "bench" / f"argo-cd-{ARGO_CD_VERSION}-install.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = urllib.request.urlopen(ARGO_CD_URL, timeout=60).read()  # noqa: S310 - a pinned https URL
        except OSError as exc:
            raise SystemExit(f"unable to download {ARGO_CD_URL}: {exc} (put the file at {path})") from exc
        path.write_bytes(data)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ARGO_CD_SHA256:
        raise SystemExit(f"unable to use {path}: sha256 {digest} is not argo-cd {ARGO_CD_VERSION}'s install.yaml")
    return path


def helmify_binary() -> Path:
    """helmify from the cache, built with `go install` on first use (GOBIN=~/.cache/chartkit/bin/helmify)."""
    from toolkit.localenv import paths

    binary = paths.cache_root() / "bin" / "helmify" / "helmify"
    if not binary.exists():
        env = {**os.environ, **paths.go_env(), "GOBIN": str(binary.parent)}
        env.pop("GOFLAGS", None)
        subprocess.run(["go", "install", "github.com/arttor/helmify/cmd/helmify@latest"], check=True, env=env)
    return binary


def largest_corpus_file() -> Path:
    files = [p for p in CORPUS.rglob("*.yaml") if "kustomization" not in p.name]
    return max(files, key=lambda p: p.stat().st_size)


def time_runs(commands: dict[str, list[str]], outputs: dict[str, Path], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():  # interleaved, so machine load hits both alike
            shutil.rmtree(outputs[name], ignore_errors=True)
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, env=ENV)
            times[name].append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed: {proc.stderr.strip()[-500:]}")
    return times


def helmify_fidelity(chart: Path, source: list[Any], namespace: str, helm: Any) -> dict[str, Any]:
    from toolkit.chartify.verify import compare
    from toolkit.errors import HelmError, InputError
    from toolkit.objects import identity_key, parse_manifest

    release = chart.name
    result: dict[str, Any] = {}
    try:
        helm.lint(chart, strict=True)
        result["lint_strict"] = "pass"
    except HelmError as exc:
        result["lint_strict"] = f"fail: {exc.message[:160]}"
    try:
        rendered = parse_manifest(helm.template(chart, release=release, namespace=namespace), str(chart))
    except HelmError as exc:
        return {**result, "render": f"fail: {exc.message[:200]}", "strict_equal": 0, "aligned_equal": 0,
                "total": len(source)}
    except InputError as exc:  # helm printed YAML that does not parse: helm install would refuse it too
        return {**result, "render": f"fail: output is not valid YAML: {exc.message.split(': ', 1)[1][:200]}",
                "strict_equal": 0, "aligned_equal": 0, "total": len(source)}
    by_key = {identity_key(o): o for o in rendered}
    by_kind_name: dict[tuple[str, str], dict] = {}
    for o in rendered:
        by_kind_name[(o.get("kind"), o["metadata"]["name"])] = o
    strict = aligned = 0
    first_diffs: list[str] = []
    for item in source:
        obj = item.obj
        exact = by_key.get(identity_key(obj))
        if exact is not None and compare(exact, obj)[0] is None:
            strict += 1
        name = obj["metadata"]["name"]
        candidate = exact or by_kind_name.get((obj["kind"], f"{release}-{name}"))
        if candidate is None:
            if len(first_diffs) < 3:
                first_diffs.append(f"{item.id}: not rendered under its name")
            continue
        renamed = {**candidate, "metadata": {**candidate["metadata"], "name": name}}
        diff = compare(renamed, obj)[0]
        if diff is None:
            aligned += 1
        elif len(first_diffs) < 3:
            first_diffs.append(f"{item.id}: {diff}")
    return {**result, "render": "ok", "strict_equal": strict, "aligned_equal": aligned, "total": len(source),
            "rendered_objects": len(rendered), "first_differences": first_diffs}


def bench_input(label: str, source: Path, runs: int, work: Path, helm: Any) -> dict[str, Any]:
    from toolkit.chartify import load_source
    from toolkit.chartify.params import main_namespace
    from toolkit.config import resolve
    from toolkit.core.chartify import ChartifyOptions, chartify

    name = "bench"
    ours, theirs = work / label / "chartkit" / name, work / label / "helmify" / name
    ours.parent.mkdir(parents=True), theirs.parent.mkdir(parents=True)
    commands = {
        "chartkit": [sys.executable, "-m", "toolkit.cli", "chartify", str(source), "--name", name, "-o", str(ours),
                     "--no-verify", "--json"],
        "helmify": [str(helmify_binary()), "-f", str(source), str(theirs)],
    }
    times = time_runs(commands, {"chartkit": ours, "helmify": theirs}, runs)
    shutil.rmtree(ours, ignore_errors=True)
    start = time.perf_counter()
    verified = subprocess.run([*commands["chartkit"][:-2], "--json"], capture_output=True, text=True, env=ENV)
    with_verify = time.perf_counter() - start
    objects, _ = load_source([str(source)])
    namespace = main_namespace([o.obj for o in objects]) or "default"
    config = resolve(helm=helm.executable)  # chartify needs only helm: the catalog and cluster are never resolved
    ours_result = chartify(config, [str(source)], ChartifyOptions(name=name, output=ours)).verification
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "input": str(source.relative_to(REPO.parent) if source.is_relative_to(REPO.parent) else source.name),
        "objects": len(objects),
        "runs": runs,
        "seconds_median": {k: round(v, 3) for k, v in median.items()},
        "seconds_all": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "chartkit_with_verify_seconds": round(with_verify, 3),
        "chartkit_with_verify_exit": verified.returncode,
        "ratio_chartkit_over_helmify": round(median["chartkit"] / median["helmify"], 2),
        "fidelity": {
            "chartkit": {"equal": ours_result.equal, "total": ours_result.total, "lint_strict": "pass"},
            "helmify": helmify_fidelity(theirs, objects, namespace, helm),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000, help="objects in the synthetic input")
    args = parser.parse_args()
    from synth_app import write as write_synthetic

    from toolkit.adapters.helm import Helm, HelmConfig, find_helm
    from toolkit.localenv import paths

    # helm as the CLI finds it: CHARTKIT_HELM, PATH, then the local build
    helm = Helm(HelmConfig(executable=find_helm(fallback=paths.helm_binary())))
    # byte-compile like a regular install, so each run loads bytecode instead of compiling the sources
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "toolkit")], check=True)
    work = Path(tempfile.mkdtemp(prefix="bench-chartify-"))
    try:
        inputs = {"largest-corpus": largest_corpus_file(), "argo-cd": argo_cd_install(),
                  f"synthetic-{args.count}": write_synthetic(work / "synthetic.yaml", args.count),
                  # helmify makes Secret data required values, so its chart cannot render with defaults; this
                  # variant shows whether that is its only obstacle
                  f"synthetic-{args.count}-no-secrets": write_synthetic(work / "synthetic-no-secrets.yaml",
                                                                        args.count, secrets=False)}
        results = {"helm": helm.version(), "cpus": os.cpu_count(),
                   "load_average": [round(x, 2) for x in os.getloadavg()], "inputs": {}}
        for label, source in inputs.items():
            print(f"== {label}: {source.name}", flush=True)
            row = bench_input(label, source, args.runs, work, helm)
            results["inputs"][label] = row
            f_ours, f_theirs = row["fidelity"]["chartkit"], row["fidelity"]["helmify"]
            print(f"   objects {row['objects']}; median wall time: chartkit {row['seconds_median']['chartkit']}s, "
                  f"helmify {row['seconds_median']['helmify']}s -> ratio {row['ratio_chartkit_over_helmify']} "
                  f"(chartkit with verify: {row['chartkit_with_verify_seconds']}s)")
            print(f"   fidelity: chartkit {f_ours['equal']}/{f_ours['total']}; helmify strict "
                  f"{f_theirs['strict_equal']}/{f_theirs['total']}, names aligned "
                  f"{f_theirs['aligned_equal']}/{f_theirs['total']} (render {f_theirs['render']}, "
                  f"lint --strict {f_theirs.get('lint_strict')})")
            for diff in f_theirs.get("first_differences", []):
                print(f"     helmify: {diff}")
        small = results["inputs"]["largest-corpus"]["seconds_median"]["chartkit"]
        argo = results["inputs"]["argo-cd"]["ratio_chartkit_over_helmify"]
        results["targets"] = {
            "largest_corpus_seconds": {"target": TARGET_SMALL_SECONDS, "measured": small,
                                       "met": small <= TARGET_SMALL_SECONDS},
            "argo_cd_ratio": {"target": TARGET_ARGO_CD_RATIO, "measured": argo, "met": argo <= TARGET_ARGO_CD_RATIO}}
        print(f"targets: online-boutique {small}s (<= {TARGET_SMALL_SECONDS}s: "
              f"{'met' if small <= TARGET_SMALL_SECONDS else 'NOT met'}); argo-cd {argo}x helmify "
              f"(<= {TARGET_ARGO_CD_RATIO}x: {'met' if argo <= TARGET_ARGO_CD_RATIO else 'NOT met'})")
        path = save("chartify", results)
        print(f"results: {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
