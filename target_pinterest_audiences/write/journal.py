"""The journal: a write's intent is stored before it is sent, and confirmed by its answer.

A write's life: ``before_intent`` -> intent stored -> ``after_intent`` -> sent ->
``after_answer`` -> confirmed (its effect recorded and the intent dropped, in one
transaction). Killed anywhere in between, the intent stays: the write may or may not have
taken effect at Pinterest (an answer can be lost after the effect). The next run sends every
intent of a run that is gone again before anything else (ADD and REMOVE are idempotent) and
confirms it, so the store never forgets a member Pinterest holds, and a removal is never
skipped because an earlier add's answer was lost.

The named moments are crash points: the private setting ``_crash_at`` ("<point>:<n>")
kills the process at the n-th time it reaches one, so tests can aim a kill exactly.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from target_pinterest_audiences.store import Intent, Store

CRASH_POINTS = ("before_intent", "after_intent", "after_answer")


class CrashPoints:
    """Kills the process at a named moment of a write's life, for tests (``_crash_at``)."""

    def __init__(self, setting: str | None) -> None:
        """``setting`` is "<point>:<n>"; None or empty turns crash points off."""
        self._point, self._left = None, 0
        self._lock = threading.Lock()
        if setting:
            point, _, count = setting.partition(":")
            if point not in CRASH_POINTS or not count.isdigit() or int(count) < 1:
                msg = f"_crash_at must be one of {', '.join(CRASH_POINTS)} with ':<n>', n >= 1"
                raise ValueError(msg)
            self._point, self._left = point, int(count)

    def reach(self, point: str) -> None:
        """Die here, as a SIGKILL would, when this is the chosen moment."""
        if point != self._point:
            return
        with self._lock:
            self._left -= 1
            if self._left == 0:
                os.kill(os.getpid(), signal.SIGKILL)


class Journal:
    """Stores intents before writes and confirms them after; settles what dead runs left."""

    def __init__(self, store: Store, crash: CrashPoints | None = None) -> None:
        """Journal into ``store``, whose run must have started."""
        self.store = store
        self.crash = crash or CrashPoints(None)

    def write(  # noqa: PLR0913
        self,
        *,
        ad_account_id: str,
        name: str,
        audience: str,
        list_type: str,
        list_id: str | None,
        operation: str,
        members: Sequence[str],
        mark: int | None,
        send: Callable[[Intent], str],
    ) -> str:
        """Store the intent, send it with ``send`` (which returns the list id), confirm it.

        ``send`` raises when Pinterest did not accept the write. It decides what becomes of
        the intent first: dropped when Pinterest refused it (no effect), kept when no answer
        came (possibly applied: the next run settles it).
        """
        self.crash.reach("before_intent")
        intent = self.store.add_intent(
            ad_account_id=ad_account_id,
            name=name,
            audience=audience,
            list_type=list_type,
            list_id=list_id,
            operation=operation,
            members=members,
            mark=mark,
        )
        self.crash.reach("after_intent")
        accepted_id = send(intent)
        self.crash.reach("after_answer")
        self.store.confirm(intent, accepted_id)
        return accepted_id

    def unsettled(self) -> list[Intent]:
        """The intents of runs that are gone, adopted by this run, oldest first."""
        adopted = []
        for intent in self.store.open_intents():
            if self.store.run_alive(intent.run_id):
                continue
            taken = self.store.adopt(intent)
            if taken is not None:
                adopted.append(taken)
        return adopted
