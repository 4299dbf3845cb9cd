"""What a deployment installs: the license metadata, the dependency file a buildpack reads, and
the package data a non-editable install needs. (``.ci/run`` installs from requirements.txt in a
fresh environment and runs the installed ``paperboy``.)"""

from __future__ import annotations

import tomllib

from support.paths import REPO


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_is_an_spdx_string_with_a_license_file() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert project["license"] == "MIT"  # a string (SPDX), not the deprecated { text = ... } table
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Paperboy contributors" in text


def test_requirements_file_installs_this_project() -> None:
    lines = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines == ["."]  # the project itself, with the dependencies pyproject.toml declares


def test_migrations_are_package_data() -> None:
    tool = pyproject()["tool"]
    assert isinstance(tool, dict)
    data = tool["setuptools"]["package-data"]["bot"]
    assert "storage/migrations/*.sql" in data
    assert list((REPO / "bot" / "storage" / "migrations").glob("*.sql"))


def test_ci_installs_from_requirements_alone_and_runs_the_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -r requirements.txt" in ci
    assert "paperboy --version" in ci and "paperboy check --online" in ci
