"""The executable: the SDK's CLI, with errors a user can act on shown as one line."""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import types

#: Longer messages are cut: a line is for reading, the DEBUG log has the rest.
MAX_LINE = 500
#: Wrong settings or a wrong command line (a --config file that cannot be used), as click's own
#: usage errors: nothing was read or sent (CONTRACT.md, exit status).
USAGE_ERROR = 2


def _stop_at_once(signum: int, frame: types.FrameType | None) -> None:
    """SIGINT/SIGTERM before the target is made: nothing was read or sent, so just stop."""
    del frame
    raise SystemExit(128 + signum)


def main() -> None:
    """Run the target; a failure ends with one line on stderr, exit code 2 for wrong settings, else 1."""
    # Before the imports (the SDK takes most of a second): a cancelled job exits 130/143
    # even this early. The target installs its own handlers when it is made.
    signal.signal(signal.SIGINT, _stop_at_once)
    signal.signal(signal.SIGTERM, _stop_at_once)
    from target_pinterest_audiences.pinterest.client import PinterestError  # noqa: PLC0415 - see above
    from target_pinterest_audiences.pinterest.tokens import RefreshTokenEndedError  # noqa: PLC0415
    from target_pinterest_audiences.reader import INPUT_ERRORS  # noqa: PLC0415
    from target_pinterest_audiences.settings import ConfigFileError, SettingsError  # noqa: PLC0415
    from target_pinterest_audiences.store import StoreError  # noqa: PLC0415
    from target_pinterest_audiences.target import TargetPinterestAudiences  # noqa: PLC0415
    from target_pinterest_audiences.write.lists import WriteError  # noqa: PLC0415

    try:
        TargetPinterestAudiences.cli()
    except (ConfigFileError, SettingsError) as exc:
        fail(str(exc), code=USAGE_ERROR)
    except (PinterestError, RefreshTokenEndedError, StoreError, WriteError, *INPUT_ERRORS) as exc:
        fail(str(exc))
    except Exception as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            logging.getLogger(__name__).exception("Unexpected error")
        fail(f"unexpected {type(exc).__name__}: {exc}")


def fail(line: str, code: int = 1) -> None:
    """Print the error line and exit non-zero."""
    flat = " ".join(line.split())
    if len(flat) > MAX_LINE:
        flat = flat[: MAX_LINE - 1] + "…"
    sys.stderr.write(f"target-pinterest-audiences: error: {flat}\n")
    sys.stderr.flush()
    raise SystemExit(code)
