"""The project's promises about itself: settings documented the same everywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import EXECUTABLE
from target_pinterest_audiences.settings import CONFIG_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
MELTANO = Path(sys.executable).with_name("meltano")
KINDS = {"string": "string", "boolean": "boolean", "integer": "integer", "number": "decimal", "array": "array"}


def about_markdown() -> str:
    completed = subprocess.run(
        [str(EXECUTABLE), "--about", "--format=markdown"], capture_output=True, text=True, check=True
    )
    return completed.stdout


def settings_table(markdown: str) -> list[str]:
    start = markdown.index("## Settings")
    return [line for line in markdown[start:].splitlines() if line.startswith("|")]


def test_readme_settings_table_matches_about() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table(readme) == settings_table(about_markdown())


def test_every_setting_has_a_description_and_secrets_are_secret() -> None:
    for name, spec in CONFIG_SCHEMA["properties"].items():
        assert spec.get("description"), name
    assert {n for n, s in CONFIG_SCHEMA["properties"].items() if s.get("secret")} == {
        "access_token",
        "refresh_token",
        "client_secret",
    }


def loader_settings(path: Path) -> list[dict[str, object]]:
    document = yaml.safe_load(path.read_text())
    if "plugins" in document:
        loaders = [p for p in document["plugins"]["loaders"] if p["name"] == "target-pinterest-audiences"]
        return loaders[0]["settings"]  # type: ignore[no-any-return]
    return document["settings"]  # type: ignore[no-any-return]


def test_meltano_yml_and_hub_definition_declare_every_setting() -> None:
    for path in (ROOT / "meltano.yml", ROOT / "plugin" / "loaders" / "target-pinterest-audiences.yml"):
        declared = {str(s["name"]): s for s in loader_settings(path)}
        assert list(declared) == list(CONFIG_SCHEMA["properties"]), path
        for name, spec in CONFIG_SCHEMA["properties"].items():
            kind = "options" if "enum" in spec else KINDS[next(t for t in spec["type"] if t != "null")]
            assert declared[name]["kind"] == kind, (path, name)
            assert bool(declared[name].get("sensitive")) == bool(spec.get("secret")), (path, name)
            assert declared[name]["description"] == spec["description"], (path, name)


def test_meltano_add_from_ref_adds_the_loader(tmp_path: Path) -> None:
    env = os.environ | {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [str(MELTANO), "init", "project", "--no_usage_stats"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    project = tmp_path / "project"
    definition = ROOT / "plugin" / "loaders" / "target-pinterest-audiences.yml"
    subprocess.run(
        [str(MELTANO), "add", "loader", "target-pinterest-audiences", "--from-ref", str(definition), "--no-install"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    settings = loader_settings(project / "meltano.yml")
    assert [s["name"] for s in settings] == list(CONFIG_SCHEMA["properties"])


def test_readme_commands_are_the_scripts_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/demo" in readme
    assert "bash scripts/test" in readme
    assert re.search(r"^exec bash scripts/test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
