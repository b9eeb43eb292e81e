"""Every command in the README and in docs/ runs as written: a newcomer's first hour, replayed.

The ``sh`` blocks are read from README.md and run as one bash script, top to bottom, in a copy
of the checkout with a fresh ``HOME``: the Quick start builds the wheel and installs it into a
fresh virtual environment, the Meltano section makes a fresh Meltano project (the loader's
``pip_url`` pointed at the checkout, no environment variable), runs the pipeline, adds a
second ad account (``inherit_from``) and a scheduled job, and runs the job. Everything talks to
an emulator with two ad accounts instead of Pinterest: ``api_url`` comes from
``TARGET_PINTEREST_AUDIENCES_API_URL`` (which both commands read, as a user's shell could set
it), the README's example app id, secret and refresh token are replaced by the emulator's, and
its port 8080 by a free one. The pages under docs/ run the same way, each page from the
checkout, with the development virtual environment's commands on PATH.

Not run here, each for a stated reason (``SKIPPED`` and ``EXERCISED_ELSEWHERE``): the two
scripts (CI itself runs ``bash scripts/test``; the demo has its own workflow), and commands
marked ``# needs a browser`` or ``# needs PyPI``. A command shown twice runs at its last place
(the introduction shows the pipeline the Quick start sets up). A server (the emulator's own
section) runs in the background until the script ends.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import AD_ACCOUNT, openapi_path
from pinterest_emulator import PinterestEmulator

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: The second ad account of the README's emulator, which the inheriting loader writes to.
SECOND_ACCOUNT = "549755885176"
#: The emulator's port in the README and docs/; the tests use a free one instead.
SHOWN_PORT = "8080"
VENV_BIN = Path(sys.executable).parent
MARKERS = ("# needs a browser", "# needs PyPI")
#: Marked commands, and the test that runs them instead.
EXERCISED_ELSEWHERE = {
    "target-pinterest-audiences-auth login": "tests/test_browser.py: headless Chromium through the consent page",
}
#: Commands that are never run here, and why (by their start).
SKIPPED = {
    "bash scripts/demo": "the meltano workflow runs it; tests/test_meltano.py runs its pipeline",
    "bash scripts/test": "CI runs it: it is the command running this test",
}
#: The README's example values, and the emulator's that stand for them.
EXAMPLES = {
    "1234567": "emulator-client-id",
    "your-app-secret": "emulator-client-secret",
    "the-refresh-token-login-printed": "emulator-refresh-token",
}
#: Commands that start a server, run in the background while the rest of the script runs.
SERVERS = ("target-pinterest-audiences-emulator",)
#: Members per list of the first account after the README: the Quick start's run on
#: tests/data/segment_audiences.singer (tests/test_end_to_end.py's hand-written EXPECTED for it:
#: the vip lists, plus frank@ in cart_abandoners (EMAIL) and one MAID in cart_abandoners (MAID)),
#: then the Meltano pipeline on demo/segment-export/ (what tests/data/demo_expected_lists.json,
#: written by hand from the contract, says of it).
_DEMO = json.loads((Path(__file__).parent / "data" / "demo_expected_lists.json").read_text())
DEMO_LISTS = {name: len(members) for name, members in _DEMO.items() if not name.startswith("_")}
EXPECTED_LISTS = dict(DEMO_LISTS)
EXPECTED_LISTS["cart_abandoners (EMAIL)"] += 1
EXPECTED_LISTS["cart_abandoners (MAID)"] += 1
EXPECTED_LISTS |= {"vip_customers (EMAIL)": 3, "vip_customers (IDFA)": 1}


@dataclass(frozen=True)
class Command:
    """One command of a README ``sh`` block: its lines (continuations and heredocs included)."""

    section: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def bare(self) -> str:
        """The first line without a trailing comment."""
        line = self.first_line
        return line.split("  #", 1)[0].split("   #", 1)[0].strip()

    @property
    def marker(self) -> str | None:
        return next((marker for marker in MARKERS if marker in self.first_line), None)


def sh_blocks(text: str, section: str = "") -> list[tuple[str, list[str]]]:
    """Each ``sh`` block with the section it is in, its lines dedented by the fence's indent."""
    blocks: list[tuple[str, list[str]]] = []
    per_heading = not section  # a docs/ page is one section, whatever its headings
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if per_heading and line.startswith("## "):
            section = line[3:].strip()
        fence = re.fullmatch(r"( *)```sh", line)
        if fence:
            indent = len(fence.group(1))
            body = []
            index += 1
            while lines[index].strip() != "```":
                body.append(lines[index][indent:])
                index += 1
            blocks.append((section, body))
        index += 1
    return blocks


def commands(text: str, section: str = "") -> list[Command]:
    """The commands of every ``sh`` block, in README order."""
    found = []
    for section_name, lines in sh_blocks(text, section):
        section = section_name
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [line]
            while parts[-1].endswith("\\") and index < len(lines):
                parts.append(lines[index])
                index += 1
            heredoc = re.search(r"<<-?'?(\w+)'?", line)
            if heredoc:
                while index < len(lines):
                    parts.append(lines[index])
                    index += 1
                    if parts[-1] == heredoc.group(1):
                        break
            found.append(Command(section, "\n".join(parts)))
    return found


def plan(all_commands: list[Command]) -> tuple[list[Command], list[tuple[Command, str]]]:
    """The commands to run, and those not run here with the reason."""
    run, not_run = [], []
    for position, command in enumerate(all_commands):
        later = [other.bare for other in all_commands[position + 1 :]]
        if command.marker:
            reason = next((why for start, why in EXERCISED_ELSEWHERE.items() if command.bare.startswith(start)), None)
            assert reason, f"{command.first_line!r} is marked {command.marker!r} but no test exercises it"
            not_run.append((command, reason))
        elif command.bare.startswith(tuple(SKIPPED)):
            not_run.append((command, next(why for start, why in SKIPPED.items() if command.bare.startswith(start))))
        elif command.bare in later:
            not_run.append((command, "runs at its last place in the README"))
        else:
            run.append(command)
    return run, not_run


def docs_commands() -> list[Command]:
    """The commands of every page under docs/, page by page (each page is its own section)."""
    return [command for page in DOCS for command in commands(page.read_text(), f"docs/{page.name}")]


def script(to_run: list[Command], port: int) -> str:
    """One bash script: each command echoed as the README shows it, then run; servers in the background."""
    out = [
        "set -euo pipefail",
        "checkout=$PWD",
        "servers=()",
        'trap \'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done\' EXIT',
    ]
    section = None
    for command in to_run:
        if command.section != section:  # each section's commands start from the checkout, as its text says
            section = command.section
            out.append(f'echo {shlex.quote("## " + section)} "$(date +%T)" >&2; cd "$checkout"')
        out.append(f"echo {shlex.quote('$ ' + command.first_line)} >&2")
        text = command.text
        for example, value in EXAMPLES.items():
            text = text.replace(example, value)
        text = text.replace(f"127.0.0.1:{SHOWN_PORT}", f"127.0.0.1:{port}").replace(
            f"--port {SHOWN_PORT}", f"--port {port}"
        )
        if command.bare.startswith(SERVERS):
            listening = re.search(r"--port (\d+)", text)
            assert listening, f"a server command without --port: {command.first_line}"
            openapi = openapi_path()
            text = text.replace("path/to/pinterest/openapi.yaml", str(openapi) if openapi else "")
            if openapi is None:
                text = re.sub(r"--openapi\s*(?=\s|$)", "", text)
            out.append(f"{text} >&2 &")
            out.append("servers+=($!)")
            out.append(
                f"for _ in $(seq 100); do curl -s -o /dev/null 127.0.0.1:{listening.group(1)} && break; sleep 0.1; done"
            )
        else:
            out.append(text)
    return "\n".join(out) + "\n"


def copy_checkout(destination: Path) -> None:
    """What a fresh clone holds (tracked and new files, not ignored ones), and the developer's .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    # `bash scripts/test` made it; the Development section's commands use it.
    (destination / ".venv").symlink_to(VENV_BIN.parent)


def readme_environment(home: Path, emulator: PinterestEmulator) -> dict[str, str]:
    """A newcomer's shell: a fresh HOME, the tools of this venv on PATH (meltano, python3), the emulator."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("TARGET_PINTEREST_", "MELTANO_"))}
    real_cache = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    env |= {
        "HOME": str(home),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_CACHE_DIR": str(real_cache),  # the downloads, not the state: a new HOME need not fetch again
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv"),  # Meltano's uv
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TARGET_PINTEREST_AUDIENCES_API_URL": emulator.url,
    }
    env.pop("VIRTUAL_ENV", None)
    return env


# -- fast checks of the README itself -------------------------------------------------------------


def test_every_marked_command_is_exercised_elsewhere_and_the_rest_run() -> None:
    to_run, not_run = plan(commands(README.read_text()))
    assert {command.bare for command, _ in not_run if command.marker} == set(EXERCISED_ELSEWHERE)
    assert any(command.bare.startswith("meltano run tap-segment") for command in to_run)
    assert any("--find-links dist" in command.bare for command in to_run)


def test_the_demo_command_shown_is_the_one_scripts_demo_runs() -> None:
    shown = re.search(r"runs `(meltano run [^`]+)`", README.read_text())
    assert shown, "the README names the demo's meltano command"
    demo = (ROOT / "scripts" / "demo.py").read_text()
    words = shown.group(1).split()[1:]
    assert f"[str(MELTANO), {', '.join(repr(w).replace(chr(39), chr(34)) for w in words)}]" in demo
    assert '"MELTANO_ENVIRONMENT": "demo"' in demo
    assert "MELTANO_ENVIRONMENT=demo" in README.read_text()


def test_the_readme_cites_no_issue_numbers() -> None:
    assert not re.findall(r"\bissues? #?\d+", README.read_text(), flags=re.IGNORECASE)


def test_quick_start_uses_no_file_before_it_exists() -> None:
    """config.json is written by the Quick start before any command names it."""
    texts = [command.text for command in commands(README.read_text())]
    first_use = next(i for i, text in enumerate(texts) if "--config config.json" in text)
    written = next(i for i, text in enumerate(texts) if "cat > config.json" in text)
    assert written < first_use


# -- the whole README, run ------------------------------------------------------------------------


@pytest.fixture
def two_accounts() -> Iterator[PinterestEmulator]:
    """The emulator as the README starts it: two ad accounts."""
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT, SECOND_ACCOUNT), openapi_path=openapi_path()) as emulator:
        yield emulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_script(to_run: list[Command], checkout: Path, home: Path, emulator: PinterestEmulator) -> str:
    """Run the commands as one bash script from ``checkout``; return its log (stderr), failing on an error."""
    path = checkout.parent / f"{checkout.name}.sh"
    path.write_text(script(to_run, free_port()))
    done = subprocess.run(
        ["bash", str(path)],
        cwd=checkout,
        env=readme_environment(home, emulator),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    path.with_suffix(".log").write_text(done.stderr)
    shown = [line for line in done.stderr.splitlines() if line.startswith("$ ")]
    assert done.returncode == 0, f"command failed: {shown[-1] if shown else '?'}\n{done.stderr[-4000:]}"
    return done.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="the emulator section's commands use curl")
def test_every_readme_command_runs_as_written(tmp_path: Path, two_accounts: PinterestEmulator) -> None:
    emulator = two_accounts
    checkout, home = tmp_path / "checkout", tmp_path / "home"
    checkout.mkdir()
    home.mkdir()
    copy_checkout(checkout)
    to_run, _ = plan(commands(README.read_text()))
    log = run_script(to_run, checkout, home, emulator)

    # Install: one wheel and one sdist, with both packages and the three commands.
    (wheel,) = (checkout / "dist").glob("*.whl")
    (sdist,) = (checkout / "dist").glob("*.tar.gz")
    assert wheel.name.startswith("target_pinterest_audiences-")
    assert sdist.name.startswith("target_pinterest_audiences-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "target_pinterest_audiences/pinterest/oauth.py" in names
    assert "pinterest_emulator/__init__.py" in names
    for script_name in (
        "target-pinterest-audiences",
        "target-pinterest-audiences-auth",
        "target-pinterest-audiences-emulator",
    ):
        assert f"{script_name} = " in entry_points
    # ... installed from that wheel, not from the checkout: the commands ran from the fresh venv.
    venv_python = home / ".venvs" / "target-pinterest-audiences" / "bin" / "python"
    where = subprocess.run(
        [str(venv_python), "-c", "import target_pinterest_audiences as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=home,
    ).stdout
    assert "site-packages" in where
    assert str(ROOT) not in where

    # Meltano: the fresh project installs the loader from the checkout (no UV_FIND_LINKS or
    # PIP_FIND_LINKS anywhere), keeps its secrets in .env, not meltano.yml.
    assert "FIND_LINKS" not in README.read_text()
    project = home / "my-meltano-project"
    meltano_yml = (project / "meltano.yml").read_text()
    document = yaml.safe_load(meltano_yml)
    loaders = {loader["name"]: loader for loader in document["plugins"]["loaders"]}
    assert loaders["target-pinterest-audiences"]["pip_url"] == f"{checkout}[postgres]"
    assert loaders["target-pinterest-audiences-acme"]["inherit_from"] == "target-pinterest-audiences"
    assert loaders["target-pinterest-audiences-acme"]["config"] == {"ad_account_id": SECOND_ACCOUNT}
    assert "emulator-client-secret" not in meltano_yml
    assert "emulator-refresh-token" not in meltano_yml
    dotenv = (project / ".env").read_text()
    assert "TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET='emulator-client-secret'" in dotenv
    assert "TARGET_PINTEREST_AUDIENCES_REFRESH_TOKEN='emulator-refresh-token'" in dotenv
    # ... the job and its daily schedule, in meltano.yml.
    (job,) = document["jobs"]
    assert job["tasks"] == [
        "tap-segment target-pinterest-audiences",
        "tap-segment target-pinterest-audiences-acme",
    ]
    (schedule,) = document["schedules"]
    assert schedule == {"name": "pinterest-audiences-daily", "interval": "@daily", "job": "pinterest-audiences"}
    # The inheriting loader's variables were never refused or warned about.
    assert "is not a setting" not in log
    assert "Ignoring TARGET_PINTEREST_AUDIENCES_" not in log

    # ... and the pipelines filled the lists Pinterest (the emulator) holds in both accounts,
    # one audience on each.
    for account, expected in ((AD_ACCOUNT, EXPECTED_LISTS), (SECOND_ACCOUNT, DEMO_LISTS)):
        held = {item.name: len(item.members) for item in emulator.customer_lists(account)}
        assert held == expected, account
        assert sorted(a["name"] for a in emulator.audiences(account)) == sorted(expected), account
    # The one store of the Meltano project knows the lists of both accounts.
    with sqlite3.connect(project / ".target-pinterest-audiences" / "store.db") as store:
        known = set(store.execute("SELECT ad_account_id, name FROM customer_lists"))
    assert known == {(account, name) for account in (AD_ACCOUNT, SECOND_ACCOUNT) for name in DEMO_LISTS}


def test_every_docs_command_runs_as_written(tmp_path: Path, two_accounts: PinterestEmulator) -> None:
    """The pages under docs/, each from the checkout, with the development venv's commands."""
    checkout, home = tmp_path / "checkout", tmp_path / "home"
    checkout.mkdir()
    home.mkdir()
    copy_checkout(checkout)
    to_run, not_run = plan(docs_commands())
    assert to_run, "docs/ shows commands"
    assert all(not command.marker for command, _ in not_run)
    run_script(to_run, checkout, home, two_accounts)
    assert list((checkout / "dist").glob("*.whl")), "docs/development.md builds the wheel"
