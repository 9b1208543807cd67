"""The catalog section of tasks.py: command lines survive spaces and quotes; publish checks against --catalog."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
from invoke import Context, Result

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tasks():
    spec = importlib.util.spec_from_file_location("chartkit_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder(Context):
    """Records the command lines a task would run (the CLI itself is tested elsewhere)."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[list[str]] = []

    def run(self, command: str, **kwargs) -> Result:  # noqa: ARG002 - same signature as Context.run
        self.commands.append(shlex.split(command))
        return Result(command=command, exited=0)


def test_package_passes_spaces_and_key_uids_as_single_arguments(tasks, tmp_path: Path) -> None:
    chart = tmp_path / "my charts" / "web app"
    c = Recorder()
    tasks.package(c, chart=str(chart), version="1.2.3", out=str(tmp_path / "out dir"),
                  sign_key="Ops <ops@example.org>", catalog="oci://reg.example:5000/charts")
    (argv,) = c.commands
    assert argv[3:] == ["package", str(chart), "-o", str(tmp_path / "out dir"), "--version", "1.2.3",
                        "--sign", "--key", "Ops <ops@example.org>", "--catalog", "oci://reg.example:5000/charts"]


def test_publish_packages_against_the_target_catalog_first(tasks, tmp_path: Path) -> None:
    out = tmp_path / "out packages"
    out.mkdir()
    (out / "web app-1.0.0.tgz").write_bytes(b"")
    c = Recorder()
    tasks.publish(c, catalog="oci://other.example:5000/team", out=str(out), chart=str(tmp_path / "web app"))
    package_argv, publish_argv = c.commands
    assert package_argv[3] == "package"
    assert package_argv[-2:] == ["--catalog", "oci://other.example:5000/team"]
    assert publish_argv[3:] == ["publish", str(out / "web app-1.0.0.tgz"), "--catalog",
                                "oci://other.example:5000/team"]
    assert tasks.publish.pre == []
