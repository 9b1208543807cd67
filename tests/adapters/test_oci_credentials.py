"""Registry credentials from a helm/docker registry config: a bad ``auth`` entry is a one-line error."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from toolkit.adapters.oci import find_credentials
from toolkit.cli import main
from toolkit.errors import RegistryError


def _config(tmp_path: Path, host: str, auth: str) -> Path:
    path = tmp_path / "registry-config.json"
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


@pytest.fixture
def no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARTKIT_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("CHARTKIT_REGISTRY_PASSWORD", raising=False)


def test_auth_entry_is_decoded(tmp_path: Path, no_env_credentials: None) -> None:
    path = _config(tmp_path, "reg.example:5000", base64.b64encode(b"ops:s3:cret").decode())
    found = find_credentials("reg.example:5000", registry_config=path)
    assert (found.username, found.password, found.source) == ("ops", "s3:cret", str(path))


@pytest.mark.parametrize("auth", ["not base64!", base64.b64encode(b"no-colon").decode(),
                                  base64.b64encode(b"\xff\xfe:x").decode()],
                         ids=["not-base64", "no-colon", "not-utf8"])
def test_bad_auth_entry_names_file_and_host(tmp_path: Path, no_env_credentials: None, auth: str) -> None:
    path = _config(tmp_path, "reg.example:5000", auth)
    with pytest.raises(RegistryError, match=r'unable to read registry credentials ".*registry-config\.json": '
                                            r"the auth entry for reg\.example:5000 is not base64 user:password"):
        find_credentials("reg.example:5000", registry_config=path)


def test_cli_reports_a_bad_auth_entry_without_a_traceback(tmp_path: Path, registry, no_env_credentials: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, registry.host, "%%%")
    code = main(["catalog", "sync", "--catalog", f"{registry.url}/c-{uuid.uuid4().hex[:8]}", "--index",
                 str(tmp_path / "idx"), "--ca-file", str(registry.ca_file), "--registry-config", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"the auth entry for {registry.host} is not base64 user:password" in err
    assert "Traceback" not in err
