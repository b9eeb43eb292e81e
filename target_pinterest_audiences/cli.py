"""The executable: the SDK's CLI, with errors a user can act on shown as one line."""

from __future__ import annotations

import logging
import sys

from target_pinterest_audiences.pinterest.client import PinterestError
from target_pinterest_audiences.reader import INPUT_ERRORS
from target_pinterest_audiences.settings import SettingsError
from target_pinterest_audiences.store import StoreError
from target_pinterest_audiences.target import TargetPinterestAudiences
from target_pinterest_audiences.write.lists import WriteError

#: Longer messages are cut: a line is for reading, the DEBUG log has the rest.
MAX_LINE = 500

USER_ERRORS = (SettingsError, PinterestError, StoreError, WriteError, *INPUT_ERRORS)


def main() -> None:
    """Run the target; a failure ends with one line on stderr and exit code 1."""
    try:
        TargetPinterestAudiences.cli()
    except USER_ERRORS as exc:
        fail(str(exc))
    except Exception as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            logging.getLogger(__name__).exception("Unexpected error")
        fail(f"unexpected {type(exc).__name__}: {exc}")


def fail(line: str) -> None:
    """Print the error line and exit non-zero."""
    flat = " ".join(line.split())
    if len(flat) > MAX_LINE:
        flat = flat[: MAX_LINE - 1] + "…"
    sys.stderr.write(f"target-pinterest-audiences: error: {flat}\n")
    sys.stderr.flush()
    raise SystemExit(1)
