"""Unit tests of the pure planning step: signals and known members to ADD and REMOVE."""

from __future__ import annotations

from target_pinterest_audiences.write.plan import Pending, chunked, hold_back, plan
from target_pinterest_audiences.write.send import WriteOptions

A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64


def split(signals: dict[str, bool], known: set[str], **options: bool) -> tuple[list[str], list[str], int]:
    options = {"list_exists": True, "members_known": True} | options
    planned = plan(signals, known, **options)
    return planned.adds, planned.removes, planned.unchanged


def test_new_members_are_added() -> None:
    assert split({A: True, B: True}, set()) == ([A, B], [], 0)


def test_a_known_member_added_again_is_unchanged_and_seen() -> None:
    planned = plan({A: True, B: True}, {A}, list_exists=True, members_known=True)
    assert (planned.adds, planned.unchanged, planned.seen) == ([B], 1, [A])


def test_known_members_are_removed() -> None:
    assert split({A: False}, {A}) == ([], [A], 0)


def test_removing_an_unknown_member_changes_nothing_when_every_member_is_known() -> None:
    assert split({A: False, B: False}, {B}) == ([], [B], 1)


def test_removals_go_for_a_list_found_in_the_account() -> None:
    assert split({A: False, B: False}, {B}, members_known=False) == ([], [A, B], 0)


def test_a_leave_for_a_list_that_does_not_exist_is_no_write_and_counted_apart() -> None:
    assert split({A: False, B: True}, set(), list_exists=False) == ([B], [], 0)
    planned = plan({A: False, B: True, C: False}, set(), list_exists=False, members_known=True)
    assert planned.removals_no_list == 2


def test_add_only_counts_removals_and_sends_none() -> None:
    planned = plan({A: False, B: False, C: True}, {A}, list_exists=True, members_known=True, add_only=True)
    assert (planned.adds, planned.removes, planned.removals_not_sent, planned.unchanged) == ([C], [], 1, 1)


def test_every_signal_is_counted_once() -> None:
    signals = {A: True, B: False, C: True, D: False}
    for known in (set(), {A}, {A, B}, {A, B, C, D}):
        for members_known in (True, False):
            planned = plan(signals, known, list_exists=True, members_known=members_known)
            assert len(planned.adds) + len(planned.removes) + planned.unchanged == len(signals)
            assert not set(planned.adds) & set(planned.removes)
    for list_exists in (True, False):  # every signal lands in exactly one count
        planned = plan(signals, set(), list_exists=list_exists, members_known=True)
        counted = len(planned.adds) + len(planned.removes) + planned.unchanged + planned.removals_no_list
        assert counted == len(signals)


def test_the_last_signal_wins_across_streams_in_one_pending_map() -> None:
    pending = Pending()
    pending.add("vip", "EMAIL", A, wanted=True)  # stream b said A joined
    pending.add("vip", "EMAIL", A, wanted=False)  # then stream a said A left
    pending.add("vip", "EMAIL", B, wanted=False)
    pending.add("vip", "EMAIL", B, wanted=True)
    assert len(pending) == 2
    assert pending.take() == {("vip", "EMAIL"): {A: False, B: True}}
    assert pending.take() == {}


def test_chunked_keeps_everything_in_order() -> None:
    items = [str(i) for i in range(10_007)]
    chunks = list(chunked(items, 5000))
    assert [len(c) for c in chunks] == [5000, 5000, 7]
    assert [x for c in chunks for x in c] == items
    assert list(chunked([], 3)) == []


def test_list_name_from_template() -> None:
    assert WriteOptions("1", "{audience} ({list_type})", 10).list_name("vip", "EMAIL") == "vip (EMAIL)"
    assert WriteOptions("1", "seg-{audience}", 10).list_name("vip", "MAID") == "seg-vip"


def test_what_does_not_fill_a_whole_request_is_held_back() -> None:
    adds, removes = [f"{i:064x}" for i in range(7)], [f"{i:064x}" for i in range(100, 102)]
    planned = plan(dict.fromkeys(adds, True) | dict.fromkeys(removes, False), set(removes), list_exists=True,
                   members_known=True)  # fmt: skip
    held = hold_back(planned, 3)
    assert (planned.adds, planned.removes) == (adds[:6], [])
    assert held == {adds[6]: True} | dict.fromkeys(removes, False)
