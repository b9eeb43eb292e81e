"""Unit tests of the matching feedback: shares, pending sizes, and the contract's warnings."""

from __future__ import annotations

import datetime as dt

from target_pinterest_audiences.matching import (
    Matching,
    Observation,
    audience_text,
    change_text,
    list_audiences,
    observe,
    previous_share,
    share_text,
    warnings_for,
)

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc)


def seen(  # noqa: PLR0913
    *,
    held: int,
    size: int | None,
    audience: str | None = "9",
    status: str | None = "READY",
    run_id: int = 2,
    name: str = "vip (EMAIL)",
) -> Observation:
    return Observation(run_id, NOW, "1", name, "5", "EMAIL", held, held, 0, "READY", audience, size, status)


def test_share_is_size_over_members_held_once_known() -> None:
    assert seen(held=200, size=50).share == 0.25
    assert seen(held=200, size=0).share == 0.0  # a known 0 is 0
    assert seen(held=200, size=None).share is None  # pending
    assert seen(held=0, size=0).share is None
    assert seen(held=200, size=50, audience=None).share is None


def test_cells_say_pending_zero_or_no_audience() -> None:
    assert (audience_text(seen(held=10, size=None)), share_text(seen(held=10, size=None))) == ("pending", "pending")
    assert (audience_text(seen(held=10, size=0)), share_text(seen(held=10, size=0))) == ("0", "0.0%")
    assert audience_text(seen(held=10, size=3, audience=None)) == "no audience"
    assert share_text(seen(held=10, size=3, audience=None)) == "-"


def test_change_is_against_the_last_run_that_had_a_share() -> None:
    history = [
        seen(held=100, size=80, run_id=1),
        seen(held=100, size=None, run_id=2),  # pending: skipped
        seen(held=100, size=60, run_id=2, name="other (EMAIL)"),
    ]
    before = previous_share(history, "vip (EMAIL)", run_id=3)
    assert before == 0.8
    now = Matching(seen(held=100, size=70, run_id=3), before)
    assert round(now.change or 0, 4) == -0.1
    assert change_text(now) == "-10.0 pt"
    assert change_text(Matching(seen(held=100, size=70, run_id=3), None)) == "-"


def test_too_small_audience_warns() -> None:
    warnings = warnings_for(seen(held=50, size=40, status="TOO_SMALL"), None)
    assert len(warnings) == 1
    assert "TOO_SMALL" in warnings[0]
    assert warnings_for(seen(held=500, size=400), None) == []


def test_removals_taking_a_list_below_100_warn() -> None:
    assert any("below the 100" in w for w in warnings_for(seen(held=99, size=None), None, removed=1))
    # Already below 100 before the run, or still at 100: no warning.
    assert warnings_for(seen(held=80, size=None), None, removed=10) == []
    assert warnings_for(seen(held=100, size=None), None, removed=10) == []
    # Adds in the same run count: 95 held after +20 -30 means 105 before.
    assert any("below the 100" in w for w in warnings_for(seen(held=95, size=None), None, added=20, removed=30))


def test_low_share_of_at_least_1000_members_warns() -> None:
    assert any("under 2%" in w for w in warnings_for(seen(held=1000, size=19), None))
    assert not any("under 2%" in w for w in warnings_for(seen(held=1000, size=20), None))
    assert not any("under 2%" in w for w in warnings_for(seen(held=999, size=0), None))
    assert not any("under 2%" in w for w in warnings_for(seen(held=5000, size=None), None))  # pending


def test_share_falling_below_half_its_previous_value_warns() -> None:
    assert any("fell from 80.0% to 39.0%" in w for w in warnings_for(seen(held=1000, size=390), 0.8))
    assert not any("fell" in w for w in warnings_for(seen(held=1000, size=400), 0.8))


def test_observe_reads_pages_and_finds_the_audience_by_its_rule() -> None:
    pages = {"5": {"id": "5", "status": "READY", "num_uploaded_user_records": 7, "num_removed_user_records": 2}}
    audiences = list_audiences(
        [
            {"id": "12", "rule": {"customer_list_id": "5"}, "size": None, "status": "INITIALIZING"},
            {"id": "11", "rule": {"customer_list_id": "5"}, "size": 3, "status": "TOO_SMALL"},
            {"id": "13", "rule": {}, "size": 1},
        ]
    )
    found = observe(
        run_id=4,
        now=NOW,
        ad_account_id="1",
        lists=[("a (EMAIL)", "5", "EMAIL"), ("b (EMAIL)", "6", "EMAIL"), ("c (EMAIL)", "404", "EMAIL")],
        members_held={"5": 5},
        pages={**pages, "6": {"id": "6", "status": "TOO_SMALL"}},
        audiences=audiences,
    )
    assert [(o.name, o.audience_id, o.audience_size, o.uploaded, o.removed) for o in found] == [
        ("a (EMAIL)", "11", 3, 7, 2),  # the oldest audience on the list
        ("b (EMAIL)", None, None, None, None),  # no audience names it
    ]
    assert found[1].members_held == 0
