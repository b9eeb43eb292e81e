"""Mirror: an ACTIVATE_VERSION on one stream does not end the snapshot other streams still send.

CONTRACT.md, Semantics: in ``mirror`` the records of an audience in a run are its whole
membership, whichever streams carry them. A stream's ACTIVATE_VERSION ends the snapshot of the
audiences only it carries; one that another stream also carries ends with the last of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import held, run_target, sha
from pinterest_emulator import PinterestEmulator


def line(message: dict[str, Any]) -> str:
    return json.dumps(message) + "\n"


def test_an_audience_on_two_streams_keeps_the_members_of_both(
    emulator: PinterestEmulator, target_config: dict[str, Any], tmp_path: Path
) -> None:
    target_config |= {"sync_mode": "mirror", "max_removal_fraction": 1}
    schema = {"type": "object", "properties": {}}
    text = "".join(line({"type": "SCHEMA", "stream": s, "schema": schema, "key_properties": []}) for s in "ab")

    def record(stream: str, audience: str, email: str) -> str:
        return line({"type": "RECORD", "stream": stream, "record": {"audience": audience, "email": email}})

    text += record("a", "vip", "ann@example.com") + record("b", "vip", "cy@example.com")
    text += record("a", "vip", "bob@example.com") + record("a", "solo", "sol@example.com")
    text += line({"type": "ACTIVATE_VERSION", "stream": "a", "version": 1})
    text += record("b", "vip", "dee@example.com")
    text += line({"type": "ACTIVATE_VERSION", "stream": "b", "version": 1})
    for _ in range(2):  # the second run says the same: nothing changes
        result = run_target(target_config, text, tmp_path)
        assert result.returncode == 0, result.last_line
        assert held(emulator) == {
            "vip (EMAIL)": frozenset(sha(f"{name}@example.com") for name in ("ann", "bob", "cy", "dee")),
            "solo (EMAIL)": frozenset({sha("sol@example.com")}),
        }
