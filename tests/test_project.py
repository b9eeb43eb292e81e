"""The project's promises about itself: settings documented the same everywhere."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import EXECUTABLE
from target_pinterest_audiences.settings import CONFIG_SCHEMA, SDK_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("sync_settings", ROOT / "scripts" / "sync_settings.py")
assert _SPEC is not None
assert _SPEC.loader is not None
sync_settings = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sync_settings)
MELTANO = Path(sys.executable).with_name("meltano")


def about_markdown() -> str:
    completed = subprocess.run(
        [str(EXECUTABLE), "--about", "--format=markdown"], capture_output=True, text=True, check=True
    )
    return completed.stdout


def settings_table(markdown: str) -> list[str]:
    start = markdown.index("## Settings")
    return [line for line in markdown[start:].splitlines() if line.startswith("|")]


def test_the_settings_page_table_matches_about() -> None:
    page = (ROOT / "docs" / "settings.md").read_text()
    assert [line for line in page.splitlines() if line.startswith("|")] == settings_table(about_markdown())


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


def test_meltano_yml_and_hub_definition_declare_every_setting_about_offers() -> None:
    """Both declare exactly what scripts/sync_settings.py makes of --about: names in order,
    kinds, options, defaults, descriptions, secrets sensitive."""
    offered = sync_settings.about_settings()
    assert set(offered) - set(CONFIG_SCHEMA["properties"]) == set(SDK_SETTINGS)
    declared = sync_settings.meltano_settings()
    assert [s["name"] for s in declared] == list(offered)
    assert {str(s["name"]) for s in declared if s.get("sensitive")} == {
        name for name, spec in offered.items() if spec.get("secret")
    }
    for path in (ROOT / "meltano.yml", ROOT / "plugin" / "loaders" / "target-pinterest-audiences.yml"):
        assert loader_settings(path) == declared, f"{path} drifted from --about: run scripts/sync_settings.py"


def test_meltano_add_from_ref_adds_the_loader(tmp_path: Path) -> None:
    env = os.environ | {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [str(MELTANO), "init", "project", "--no_usage_stats"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    project = tmp_path / "project"
    definition = ROOT / "plugin" / "loaders" / "target-pinterest-audiences.yml"
    add = ["add", "--plugin-type", "loader", "target-pinterest-audiences", "--from-ref", str(definition)]
    subprocess.run(
        [str(MELTANO), *add, "--no-install"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    settings = loader_settings(project / "meltano.yml")
    assert [s["name"] for s in settings] == list(sync_settings.about_settings())
    assert list(yaml.safe_load((project / "meltano.yml").read_text())["plugins"]) == ["loaders"]


def test_readme_commands_are_the_scripts_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/demo" in readme
    assert "bash scripts/test" in readme
    assert re.search(r"^exec bash scripts/test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)


def run_executable(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_PINTEREST_AUDIENCES_")}
    return subprocess.run(
        [str(EXECUTABLE), *args],
        input="",
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=clean | (env or {}),
        timeout=60,
    )


def test_a_config_file_that_is_not_json_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"ad_account_id": "1", "access_token": "s3cr3t-in-file",')
    done = run_executable("--config", "config.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        (
            "target-pinterest-audiences: error: config file config.json is not valid JSON "
            "(Expecting property name enclosed in double quotes at line 1 column 57); fix the file"
        )
    ]
    assert not (tmp_path / ".target-pinterest-audiences").exists()


def test_a_missing_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    done = run_executable("--config", "nope.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "target-pinterest-audiences: error: config file nope.json does not exist; check the --config path"
    )


def test_a_misspelled_setting_stops_the_run_before_any_input(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"ad_account_id": "1", "dry_run": True, "sync_mod": "mirror"}))
    done = run_executable("--config", "config.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "target-pinterest-audiences: error: Invalid settings: sync_mod is not a setting (did you mean sync_mode?)."
    )
    assert done.stdout == ""


def test_a_near_miss_variable_stops_the_run_naming_the_setting(tmp_path: Path) -> None:
    """TARGET_PINTEREST_AUDIENCES_DRYRUN meant DRY_RUN: a run without it would write to Pinterest."""
    (tmp_path / "config.json").write_text(json.dumps({"ad_account_id": "1", "access_token": "t"}))
    done = run_executable("--config", "config.json", cwd=tmp_path, env={"TARGET_PINTEREST_AUDIENCES_DRYRUN": "true"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "target-pinterest-audiences: error: Invalid settings: TARGET_PINTEREST_AUDIENCES_DRYRUN is not a setting"
        " (did you mean TARGET_PINTEREST_AUDIENCES_DRY_RUN?)."
    )
    assert done.stdout == ""


def test_unknown_variables_are_warned_once_and_an_inheriting_plugins_are_not(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"ad_account_id": "1", "dry_run": True}))
    env = {
        "TARGET_PINTEREST_AUDIENCES_COLOUR": "blue",
        # What Meltano exports for target-pinterest-audiences-acme (inherit_from), extras included.
        "TARGET_PINTEREST_AUDIENCES_ACME_DRY_RUN": "true",
        "TARGET_PINTEREST_AUDIENCES_ACME_AD_ACCOUNT_ID": "2",
        "TARGET_PINTEREST_AUDIENCES_ACME__LOAD_SCHEMA": "x",
        "TARGET_PINTEREST_AUDIENCES_LOGLEVEL": "INFO",
    }
    done = run_executable("--config", "config.json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    warned = [line for line in done.stderr.splitlines() if "TARGET_PINTEREST_AUDIENCES_COLOUR" in line]
    assert len(warned) == 1
    assert "not a setting" in warned[0]
    assert "ACME" not in done.stderr
    assert "Skipping parse of env var settings" not in done.stderr


def test_the_target_reads_the_environment_over_its_config_file(tmp_path: Path) -> None:
    """As under Meltano, and as target-pinterest-audiences-auth: a variable wins over the file."""
    (tmp_path / "config.json").write_text(json.dumps({"ad_account_id": "1", "dry_run": True, "sync_mode": "nope"}))
    env = {"TARGET_PINTEREST_AUDIENCES_SYNC_MODE": "mirror", "TARGET_PINTEREST_AUDIENCES_MAX_REMOVAL_FRACTION": "0.3"}
    done = run_executable("--config", "config.json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    sdk_about = json.loads(run_executable("--about", "--format=json", cwd=tmp_path).stdout)
    assert "load_method" not in sdk_about["settings"]["properties"]
    assert "schema-flattening" not in sdk_about["capabilities"]


def documented_text() -> str:
    """The README and the pages under docs/, where a statement may have moved."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return " ".join(" ".join(page.read_text(encoding="utf-8").split()) for page in pages if page.exists())


def test_a_plain_postgresql_url_means_the_driver_the_docs_name(tmp_path: Path) -> None:
    """SQLAlchemy is pinned below 2.1, where postgresql:// means psycopg2 (2.1: psycopg 3)."""
    import sqlalchemy as sa  # noqa: PLC0415 - only this test needs it

    assert sa.engine.make_url("postgresql://u@h/db").get_dialect().driver == "psycopg2"
    assert "A plain `postgresql://` URL uses SQLAlchemy's default driver, psycopg2" in documented_text()
    config = {"ad_account_id": "1", "dry_run": True, "store_url": "postgresql://u:pw@127.0.0.1:1/db"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = run_executable("--config", "config.json", cwd=tmp_path)
    assert done.returncode == 1
    assert "postgresql:// URL uses psycopg2: pip install psycopg2-binary" in done.stderr.splitlines()[-1]


COMMANDS = {
    "target-pinterest-audiences": ("customer lists", "ad_account_id (required)", "dry_run:", "Exit status: 0"),
    "target-pinterest-audiences-auth": ("login authorises your Pinterest app", "ad-accounts lists", "Exit status"),
    "target-pinterest-audiences-emulator": ("an ad account it holds", "--rotate-refresh-tokens", "Exit status"),
}


def test_every_command_says_what_it_does_its_options_and_where_the_readme_is(tmp_path: Path) -> None:
    for name, phrases in COMMANDS.items():
        done = subprocess.run(
            [str(EXECUTABLE.with_name(name)), "--help"], capture_output=True, text=True, check=False, cwd=tmp_path
        )
        assert done.returncode == 0, name
        text = " ".join(done.stdout.split())
        for phrase in (*phrases, "https://pypi.org/project/target-pinterest-audiences/"):
            assert phrase in text, (name, phrase)
        assert "Execute the Singer target" not in text


def test_a_wrong_command_line_exits_2_everywhere(tmp_path: Path) -> None:
    for name in COMMANDS:
        done = subprocess.run(
            [str(EXECUTABLE.with_name(name)), "--no-such-option"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, (name, done.stderr[-500:])


#: The Meltano Hub's schema of a loader definition (meltano/hub, schemas/plugin_definitions/
#: loaders.schema.json with common/common.schema.json and hub_metadata.schema.json): the keys it
#: allows, those it requires, and the maintenance statuses it knows.
HUB_LOADER_KEYS = frozenset(
    {
        "capabilities",
        "name",
        "pip_url",
        "variant",
        "description",
        "executable",
        "repo",
        "namespace",
        "logo_url",
        "label",
        "settings",
        "docs",
        "settings_group_validation",
        "commands",
        "dialect",
        "target_schema",
        "hidden",
        "requires",
        "maintenance_status",
        "domain_url",
        "keywords",
        "definition",
        "next_steps",
        "settings_preamble",
        "usage",
        "prereq",
    }
)
HUB_REQUIRED = ("name", "namespace", "variant", "label")
HUB_MAINTENANCE_STATUSES = ("active", "beta", "development", "inactive", "unknown")


def test_the_hub_definition_has_repo_docs_and_maintenance_status_as_the_hub_schema_says() -> None:
    definition = yaml.safe_load((ROOT / "plugin" / "loaders" / "target-pinterest-audiences.yml").read_text())
    assert set(definition) <= HUB_LOADER_KEYS, set(definition) - HUB_LOADER_KEYS
    for key in HUB_REQUIRED:
        assert isinstance(definition[key], str), key
    assert definition["maintenance_status"] in HUB_MAINTENANCE_STATUSES
    assert definition["pip_url"] == "target-pinterest-audiences"  # the PyPI name; users override it locally
    # pyproject.toml's [project.urls] (read without tomllib, which Python 3.10 lacks)
    pyproject = (ROOT / "pyproject.toml").read_text()
    urls = dict(re.findall(r'^(Repository|Documentation) = "([^"]+)"$', pyproject, re.MULTILINE))
    assert definition["repo"] == urls["Repository"]
    assert definition["docs"] == urls["Documentation"]
    for key in ("repo", "docs", "domain_url"):
        assert definition[key].startswith("https://"), key
