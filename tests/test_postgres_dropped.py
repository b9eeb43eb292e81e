"""A PostgreSQL store whose connections are dropped mid-run (a server restart, a proxy) loses nothing.

CONTRACT.md, Semantics: exact whatever happens. The store's connections are terminated with
``pg_terminate_backend`` while the run writes; the run goes on or fails with one line, and a
rerun, then a leave of everyone, end exactly as the input says.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from conftest import EXECUTABLE, held, require_postgres, run_target, sha, singer_lines
from pinterest_emulator import Faults, PinterestEmulator

PORT = 5432


def store_backends(pid: int) -> list[int]:
    """The local ports of the process's connections to the PostgreSQL server."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return []
    return [c.laddr.port for c in connections if c.raddr and c.raddr.port == PORT]


def terminate(ports: list[int]) -> int:
    engine = sa.create_engine(require_postgres())
    try:
        with engine.begin() as conn:
            return len(
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY(:ports)"),
                    {"ports": ports},
                ).all()
            )
    finally:
        engine.dispose()


def test_dropped_store_connections_mid_run_lose_nothing(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path, postgres_url: str
) -> None:
    names = [f"u{i}@example.com" for i in range(2000)]
    rows = [{"audience": "vip", "email": name} for name in names]
    config = target_config | {"store_url": postgres_url, "records_per_request": 20, "parallel_requests": 2}
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    input_path = tmp_path / "input.singer"
    input_path.write_text(singer_lines("rows", rows, {"position": len(rows)}))
    emulator.faults = Faults(latency_seconds=0.03)
    command = [str(EXECUTABLE), "--config", str(config_path), "--input", str(input_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    terminated = 0
    for requests_seen in (15, 45, 75):
        deadline = time.monotonic() + 60
        while len(emulator.requests) < requests_seen and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        terminated += terminate(store_backends(proc.pid))
    stdout, stderr = proc.communicate(timeout=120)
    assert terminated, "no store connection was found to drop"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if proc.returncode != 0:  # failing is allowed: cleanly, in one line
        assert proc.returncode == 1, lines[-1]
        assert stdout == ""
    emulator.faults = Faults()
    again = run_target(config, singer_lines("rows", rows), tmp_path)
    assert again.returncode == 0, again.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset(sha(name) for name in names)}
    # The store knows every member Pinterest holds: a leave of everyone empties the list.
    gone = [{**row, "in_audience": False} for row in rows]
    result = run_target(config, singer_lines("rows", gone), tmp_path)
    assert result.returncode == 0, result.last_line
    assert held(emulator) == {"vip (EMAIL)": frozenset()}
