"""Write the settings `--about` offers into meltano.yml, the Meltano Hub definition and docs/settings.md.

The settings live in one place, `settings.CONFIG_SCHEMA` plus the SDK's built-in settings that
act here (`settings.SDK_SETTINGS`), as `target-pinterest-audiences --about` shows them;
`tests/test_project.py` fails when any of these copies drifts from it.
Run: `.venv/bin/python scripts/sync_settings.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXECUTABLE = Path(sys.executable).with_name("target-pinterest-audiences")
KINDS = {
    "string": "string",
    "boolean": "boolean",
    "integer": "integer",
    "number": "decimal",
    "array": "array",
    "object": "object",
}


def about_settings() -> dict[str, dict[str, object]]:
    """The settings `--about --format=json` offers, in its order."""
    about = subprocess.run([str(EXECUTABLE), "--about", "--format=json"], capture_output=True, text=True, check=True)
    return json.loads(about.stdout)["settings"]["properties"]  # type: ignore[no-any-return]


def meltano_settings() -> list[dict[str, object]]:
    """Each setting as Meltano declares it: kind, options, description, secrets sensitive."""
    declared = []
    for name, spec in about_settings().items():
        kind = "options" if "enum" in spec else KINDS[next(t for t in spec["type"] if t != "null")]
        entry: dict[str, object] = {"name": name, "label": spec.get("title", name), "kind": kind}
        if "enum" in spec:
            entry["options"] = [{"label": value, "value": value} for value in spec["enum"] if value is not None]
        entry["description"] = spec["description"]
        if spec.get("secret"):
            entry["sensitive"] = True
        if "default" in spec:
            entry["value"] = spec["default"]
        declared.append(entry)
    return declared


def write_meltano_yml(settings: list[dict[str, object]]) -> None:
    """Replace the loader's settings in meltano.yml."""
    path = ROOT / "meltano.yml"
    text = path.read_text()
    marker = "      settings:\n"
    head = text[: text.index(marker) + len(marker)]
    body = yaml.safe_dump(settings, sort_keys=False, width=120, allow_unicode=True)
    path.write_text(head + "".join(f"        {line}\n" for line in body.splitlines()))


def write_hub_definition(settings: list[dict[str, object]]) -> None:
    """Replace the settings of the Meltano Hub definition."""
    path = ROOT / "plugin" / "loaders" / "target-pinterest-audiences.yml"
    first, rest = path.read_text().split("\n", 1)
    definition = yaml.safe_load(rest)
    definition["settings"] = settings
    path.write_text(first + "\n" + yaml.safe_dump(definition, sort_keys=False, width=120, allow_unicode=True))


def write_readme_table() -> None:
    """Replace the settings table of docs/settings.md with the one of --about --format=markdown."""
    command = [str(EXECUTABLE), "--about", "--format=markdown"]
    about = subprocess.run(command, capture_output=True, text=True, check=True)
    table = [line for line in about.stdout[about.stdout.index("## Settings") :].splitlines() if line.startswith("|")]
    path = ROOT / "docs" / "settings.md"
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Setting |"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[start:end] = table
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    declared = meltano_settings()
    write_meltano_yml(declared)
    write_hub_definition(declared)
    write_readme_table()
    print(json.dumps({"settings": len(declared)}))
