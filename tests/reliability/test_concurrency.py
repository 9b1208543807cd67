"""Concurrency: same-instance upgrades, same-instance rollouts (in test_item06_07_rollouts), same-version publishes.

Each contender is a chartkit process started at the same moment. Whatever the interleaving, each ends as a success
or one clean error line, and what is left is consistent: one deployed revision and no stuck one; one version's
content under a tag.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.harness import assert_sane, finish, record, start_chartkit
from tests.reliability.test_item09_kill import statuses
from toolkit.core.install import InstallOptions, install

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]


def race(argvs, env, tmp_path, timeout=180):
    started = time.monotonic()
    children = [start_chartkit(args, env=env, tmp_root=tmp_path) for args in argvs]
    return [finish(*child, args, started=started, timeout=timeout) for child, args in zip(children, argvs)]


def test_three_upgrades_of_one_instance_at_once_leave_one_consistent_release(publish_tiny, config, suite_namespace,
                                                                             cli_env, tmp_path):
    ns = suite_namespace
    # every contender is a valid upgrade: whichever wins helm's lock must succeed (an invalid one that won it
    # left no success to assert)
    publish_tiny("1.0.0")
    publish_tiny("1.1.0")
    install(config, InstallOptions(instance="web", type_ref="tiny@1.0.0", namespace=ns))
    argvs = [["upgrade", "web", "-n", ns, "--set", "plan=large", "--timeout", "60s"],
             ["upgrade", "web", "-n", ns, "--version", "1.1.0", "--timeout", "60s"],
             ["upgrade", "web", "-n", ns, "--set", "env[0].name=RACE,env[0].value=racing", "--timeout", "60s"]]
    runs = race(argvs, cli_env, tmp_path)
    for args, run in zip(argvs, runs):
        record("concurrency", f"upgrade of one instance, 3 at once ({' '.join(args[3:5])})", run)
        assert_sane(run)
    assert any(r.code == 0 for r in runs), [r.stderr for r in runs]
    for run in runs:
        if run.code != 0:  # helm's own lock: "another operation ... is in progress", said in one line
            assert len(run.error_lines) == 1, run.stderr
    now = statuses(config, "web", ns)
    assert now[-1] == "deployed" and now.count("deployed") == 1, now
    assert not any(s.startswith("pending-") for s in now), now


def test_same_version_published_by_three_processes_at_once_holds_one_content(tmp_path, tiny_chart, catalog,
                                                                             helm_bin, cli_env):
    from toolkit.config import Config
    from toolkit.core.package import PackageOptions, package

    config = Config(catalog, helm_binary=helm_bin)
    paths = []
    for i in range(3):  # three different contents claiming the same version
        chart = tiny_chart(tmp_path / f"src{i}", "race", "2.0.0")
        (chart / "values.yaml").write_text((chart / "values.yaml").read_text().replace("plan: small",
                                                                                      f"plan: small # {i}"))
        (chart / "templates" / "extra.yaml").write_text(f"# writer {i}\n")
        paths.append(package(config, PackageOptions(chart=chart, destination=tmp_path / f"out{i}",
                                                    offline=True)).path)
    runs = race([["publish", str(p), "--no-index"] for p in paths], cli_env, tmp_path)
    for i, run in enumerate(runs):
        record("concurrency", f"publish of one version, 3 different contents at once (#{i + 1})", run)
        assert_sane(run)
    assert sorted(r.code for r in runs) == [0, 1, 1], [r.stderr for r in runs]
    assert all("already published with other content" in r.error_lines[0] for r in runs if r.code == 1)
    winner = next(r for r in runs if r.code == 0)
    with catalog.registry() as reg:
        held = reg.manifest(catalog.url.repository("race"), "2.0.0")
    assert held is not None and held[1] in winner.stdout
