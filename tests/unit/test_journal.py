"""The journal's pure parts: crash points (the private ``_crash_at`` setting) and their checks."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, cast

import pytest

from target_pinterest_audiences.write import journal
from target_pinterest_audiences.write.journal import CRASH_POINTS, CrashPoints, Journal

if TYPE_CHECKING:
    from target_pinterest_audiences.store import Store


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_every_crash_point_with_a_count_is_taken(point: str) -> None:
    crash = CrashPoints(f"{point}:2")
    crash.reach(point)  # the first time: not yet
    crash.reach("elsewhere")


@pytest.mark.parametrize("setting", ["", None])
def test_no_setting_means_no_crash_point(setting: str | None) -> None:
    CrashPoints(setting).reach("after_answer")


@pytest.mark.parametrize(
    "setting", ["nowhere:1", "after_answer:0", "after_answer:x", "after_answer", "after_answer:-1"]
)
def test_a_wrong_crash_point_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="_crash_at must be one of"):
        CrashPoints(setting)


def test_the_journal_uses_the_run_s_crash_points_or_none() -> None:
    store = cast("Store", object())
    chosen = CrashPoints("after_intent:1")
    assert Journal(store, chosen).crash is chosen
    Journal(store).crash.reach("after_intent")  # none chosen: reaching a point does nothing


def test_the_chosen_point_kills_at_its_nth_reach_and_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(journal.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    crash = CrashPoints("after_intent:2")
    for point in ("after_intent", "before_intent", "after_answer", "before_intent"):
        crash.reach(point)
    assert kills == []
    crash.reach("after_intent")
    assert kills == [(journal.os.getpid(), signal.SIGKILL)]
