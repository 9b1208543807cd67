"""The secrets scanner finds what it must: a planted secret, raw and base64, in each place it reads."""

from __future__ import annotations

import base64

import pytest

from tests.reliability.ledger import Ledger
from tests.reliability.scanner import needles, scan

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"{\"password\": \""], ids=["0", "1", "2", "json"])
def test_base64_needles_match_the_secret_wherever_it_sits(prefix):
    secret = "pw-Zq8_0aLk9dPw"
    blob = base64.b64encode(prefix + secret.encode() + b"\", \"more\": 1}").decode()
    assert any(n in blob for n in needles(secret))
    assert not any(n in base64.b64encode(b"unrelated text of the same length!!").decode() for n in needles(secret))


def test_each_place_is_scanned(tmp_path, kube, suite_namespace, local_helm):
    from tests.localenv.charts import write_chart

    ledger = Ledger()  # a ledger of its own: these plants must not fail the session's own scan
    secret = ledger.secret("planted")
    ledger.output("stdout of a run", f"token {base64.b64encode(('user:' + secret).encode()).decode()} ok")
    (tmp_path / "run-tmp").mkdir()
    (tmp_path / "run-tmp" / "tmpabc").write_text(f"-----BEGIN KEY----- {secret}")
    ledger.scan_dirs.add(tmp_path / "run-tmp")
    ns = suite_namespace
    ledger.namespaces.add(ns)
    kube.create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "planted", "namespace": ns},
                 "involvedObject": {"kind": "Pod", "name": "x", "namespace": ns}, "reason": "Planted",
                 "message": f"connecting with {secret}", "type": "Normal"}, ns)
    chart = write_chart(tmp_path / "charts")
    local_helm.install_or_upgrade("planted", chart, namespace=ns, labels={"leak": secret}, wait=False,
                                  description=f"deployed with {base64.b64encode(secret.encode()).decode()}")
    where = sorted({hit.where.split(" ")[0] for hit in scan(ledger, kube)})
    assert where == ["Event", "description", "file", "labels", "stdout"], where
