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

from target_pinterest_audiences.pinterest.client import Outcome, PinterestError

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_pinterest_audiences.store import Intent, Store, Write

CRASH_POINTS = ("before_intent", "after_intent", "after_answer")


def not_applied(exc: BaseException) -> bool:
    """Whether a failed write certainly took no effect: refused, and no attempt of it unanswered.

    The client accumulates the outcome over every attempt (``PinterestError.outcome``): once an
    attempt went unanswered (a timeout, a connection lost after sending, a 5xx), the write may
    have taken effect whatever came after (429s until the budget is spent, a 401 whose renewal
    failed, the run stopping). Any other failure is unknown too.
    """
    return isinstance(exc, PinterestError) and exc.outcome is Outcome.NOT_APPLIED


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

    def write(self, write: Write, send: Callable[[Intent], str]) -> str:
        """Store the intent, send it with ``send`` (which returns the list id), confirm it.

        ``send`` raises when Pinterest did not accept the write: the intent is dropped when
        it certainly took no effect (``not_applied``), and kept otherwise (possibly applied:
        the next run settles it). A ``send`` that found the list gone confirmed the intent itself.
        """
        self.crash.reach("before_intent")
        intent = self.store.add_intent(write)
        self.crash.reach("after_intent")
        return self.complete(intent, send)

    def complete(self, intent: Intent, send: Callable[[Intent], str], *, adopted: bool = False) -> str:
        """Send a stored intent (new, or ``adopted`` from a run that is gone) and confirm it.

        An adopted intent is never dropped on a failure: the run that is gone may have sent it
        unanswered, so whatever this run meets (a refused token renewal included), it stays
        for a later run, and this run fails.
        """
        try:
            accepted_id = send(intent)
        except Exception as exc:
            if not adopted and not_applied(exc):
                self.store.drop_intent(intent)
            raise
        self.crash.reach("after_answer")
        self.store.confirm(intent, accepted_id)
        return accepted_id

    def unsettled(self, ad_account_id: str) -> list[Intent]:
        """The intents of runs that are gone, for this ad account, adopted by this run, oldest first.

        Another account's intents are left for a run of that account (its token may not reach them).
        """
        adopted = []
        for intent in self.store.open_intents():
            if intent.ad_account_id != ad_account_id or self.store.run_alive(intent.run_id):
                continue
            taken = self.store.adopt(intent)
            if taken is not None:
                adopted.append(taken)
        return adopted
