"""The one-at-a-time claim (toolkit.deploy.claims) on the real API server: a Lease created once, refused with its
holder, renewed, taken over once expired, released only by its holder."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.deploy import claims
from toolkit.errors import DeployError

pytestmark = pytest.mark.cluster


def _age(kube, namespace: str, name: str, seconds: int) -> None:
    stale = (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.patch(claims.LEASE_API, "Lease", name, namespace, {"spec": {"renewTime": stale}})


def test_of_many_claimants_at_once_exactly_one_wins_and_the_others_learn_who(kube, namespace):
    barrier, won, refused = threading.Barrier(4), [], []

    def claimant(i: int) -> None:
        barrier.wait()
        try:
            won.append(claims.claim(kube, "rollout", "web", namespace, doing=f"contender {i}"))
        except DeployError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=claimant, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 3
    assert all("another rollout holds it: " in str(e) and won[0].holder in str(e) for e in refused)
    claims.release(kube, won[0])
    assert kube.get(claims.LEASE_API, "Lease", won[0].name, namespace, missing_ok=True) is None


def test_an_expired_claim_is_taken_over_and_its_old_holder_cannot_release_it(kube, namespace):
    first = claims.claim(kube, "rollout", "web", namespace, doing="first")
    with pytest.raises(DeployError, match="another rollout holds it"):
        claims.claim(kube, "rollout", "web", namespace, doing="second")
    _age(kube, namespace, first.name, claims.CLAIM_SECONDS + 5)  # its holder stopped renewing
    second = claims.claim(kube, "rollout", "web", namespace, doing="second")
    assert not claims.renew(kube, first)  # the first holder learns it lost the claim
    claims.release(kube, first)  # ... and cannot remove the new holder's
    lease = kube.get(claims.LEASE_API, "Lease", second.name, namespace)
    assert lease["spec"]["holderIdentity"] == second.holder
    assert claims.renew(kube, second)
    claims.release(kube, second)


def _holder(kube, namespace: str, name: str, holder: str) -> None:
    kube.patch(claims.LEASE_API, "Lease", name, namespace, {"spec": {"holderIdentity": holder}})


def test_a_claim_whose_process_on_this_machine_is_gone_is_taken_over_at_once(kube, namespace):
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(gone.stdout)  # a process that has exited: its pid names nobody (until reused)
    first = claims.claim(kube, "rollout", "web", namespace, doing="killed")
    _holder(kube, namespace, first.name, f"ci@{socket.gethostname()} pid {pid}: rollout start 1.1.0")
    second = claims.claim(kube, "rollout", "web", namespace, doing="abort")  # not expired, yet taken over
    assert kube.get(claims.LEASE_API, "Lease", second.name, namespace)["spec"]["holderIdentity"] == second.holder

    # the same pid on another machine is not ours to judge: that claim waits for its expiry
    _holder(kube, namespace, second.name, f"ci@another-machine pid {pid}: rollout start 1.1.0")
    with pytest.raises(DeployError, match=f"another rollout holds it: ci@another-machine pid {pid}"):
        claims.claim(kube, "rollout", "web", namespace, doing="abort")
    # nor is a live process of this machine's
    _holder(kube, namespace, second.name, f"ci@{socket.gethostname()} pid 1: rollout start 1.1.0")
    with pytest.raises(DeployError, match="another rollout holds it"):
        claims.claim(kube, "rollout", "web", namespace, doing="abort")
    kube.delete(claims.LEASE_API, "Lease", second.name, namespace)


def test_hold_renews_while_held_and_releases_after(kube, namespace, monkeypatch):
    with claims.hold(kube, "rollout", "web", namespace, doing="held", seconds=3) as held:
        before = kube.get(claims.LEASE_API, "Lease", held.name, namespace)["spec"]["renewTime"]
        threading.Event().wait(2.5)  # a renewal every second
        after = kube.get(claims.LEASE_API, "Lease", held.name, namespace)["spec"]["renewTime"]
        assert after > before
    assert kube.get(claims.LEASE_API, "Lease", held.name, namespace, missing_ok=True) is None
