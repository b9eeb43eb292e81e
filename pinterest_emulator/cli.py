"""``target-pinterest-audiences-emulator``: serve the emulator from a shell until stopped.

Why: CI jobs and the demo run the real pipeline (``meltano run``) against the emulator in
another process; each fault is a flag, so a flaky Pinterest is one command line.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from pinterest_emulator.emulator import PinterestEmulator
from pinterest_emulator.faults import Faults
from pinterest_emulator.population import Population


def _add_matching_arguments(parser: argparse.ArgumentParser) -> None:
    """--population and --size-lag-seconds (matching, modelled: population.py)."""
    parser.add_argument(
        "--population",
        type=Path,
        metavar="FILE",
        help="people on Pinterest, one 'email|idfa|aaid,<raw id>' a line: audience sizes count the list entries"
        " that match them (an assumption: see pinterest_emulator/population.py); without it every entry matches",
    )
    parser.add_argument(
        "--size-lag-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a new audience's size is null and its status INITIALIZING for this long (0)",
    )


def _population(parser: argparse.ArgumentParser, path: Path | None) -> Population | None:
    """The --population file read, or a usage error naming what is wrong with it."""
    if path is None:
        return None
    try:
        return Population.load(path)
    except (ValueError, OSError) as error:
        parser.error(f"--population {path}: {error}")


def _parser() -> argparse.ArgumentParser:
    """The options, each described (--help is the manual of a CI job's Pinterest)."""
    parser = argparse.ArgumentParser(
        prog="target-pinterest-audiences-emulator",
        description="Serve a local stand-in for the part of Pinterest's API v5 that target-pinterest-audiences "
        "uses (ad accounts, customer lists, audiences, OAuth), in memory, until Ctrl-C. Point the target's "
        "api_url at http://HOST:PORT/v5 with access_token emulator-access-token; GET /_emulator/state shows "
        "what it holds.",
        epilog="Faults and a CI example: python -m pydoc pinterest_emulator (section Faults). More: the README "
        "(https://pypi.org/project/target-pinterest-audiences/) and its docs/emulator.md. Exit status: 0 "
        "stopped; 2 wrong options; 1 could not listen.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (8080; 0 picks a free port)")
    parser.add_argument(
        "--ad-account-id",
        action="append",
        dest="ad_account_ids",
        metavar="ID",
        help="an ad account it holds, digits; repeat for several (default 549755885175)",
    )
    parser.add_argument(
        "--access-token",
        action="append",
        dest="access_tokens",
        metavar="TOKEN",
        help="an access token it accepts; repeat for several (default emulator-access-token)",
    )
    parser.add_argument(
        "--client-id", default="emulator-client-id", help="the app id of its OAuth (emulator-client-id)"
    )
    parser.add_argument(
        "--client-secret", default="emulator-client-secret", help="the app secret of its OAuth (emulator-client-secret)"
    )
    parser.add_argument(
        "--refresh-token",
        action="append",
        dest="refresh_tokens",
        metavar="TOKEN",
        help="a refresh token it accepts; repeat for several (default emulator-refresh-token)",
    )
    parser.add_argument(
        "--rotate-refresh-tokens",
        action="store_true",
        help="answer each refresh with a new refresh token and retire the old one (continuous refresh)",
    )
    parser.add_argument(
        "--openapi", type=Path, metavar="FILE", help="also validate request bodies against Pinterest's OpenAPI file"
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="how much it logs to stderr (WARNING)",
    )
    _add_matching_arguments(parser)
    group = parser.add_argument_group(
        "faults",
        "Misbehave on /v5 requests (never on /_emulator/*), reproducibly for a given seed. "
        "SHARE is a probability from 0 to 1 per request; the shares add up to at most 1.",
    )
    group.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="wait per /v5 request")
    group.add_argument("--fault-seed", type=int, default=0, metavar="INT", help="seed of the fault draws (0)")
    group.add_argument("--fault-429", type=float, default=0.0, metavar="SHARE", help="429 code 8 with Retry-After")
    group.add_argument("--fault-500", type=float, default=0.0, metavar="SHARE", help="500, not processed")
    group.add_argument("--fault-503", type=float, default=0.0, metavar="SHARE", help="503 code 4197, not processed")
    group.add_argument(
        "--fault-drop", type=float, default=0.0, metavar="SHARE", help="close or reset without reply, not processed"
    )
    group.add_argument(
        "--fault-drop-after-effect",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="process (e.g. create the list), then close or reset without reply",
    )
    group.add_argument(
        "--fault-slow", type=float, default=0.0, metavar="SHARE", help="process, then hold the reply --slow-seconds"
    )
    group.add_argument("--slow-seconds", type=float, default=5.0, metavar="SECONDS", help="delay of slow replies (5)")
    group.add_argument("--retry-after", type=float, default=0.0, metavar="SECONDS", help="Retry-After of 429s (0)")
    group.add_argument("--retry-after-http-date", action="store_true", help="send Retry-After as an HTTP date")
    group.add_argument("--fault-oauth", action="store_true", help="also fault and meter POST /v5/oauth/token")
    group.add_argument(
        "--quota-rps",
        type=float,
        metavar="RPS",
        help="global quota in fixed one-second windows; the excess gets 429 with Retry-After",
    )
    group.add_argument(
        "--access-token-max-uses", type=int, metavar="N", help="access tokens give 401 code 2 after N uses"
    )
    group.add_argument(
        "--repeat-bookmark",
        action="store_true",
        help='every customer-list page says bookmark "string", as Stoplight Prism serving the spec does',
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM (``target-pinterest-audiences-emulator``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        faults = Faults(
            latency_seconds=args.latency,
            access_token_max_uses=args.access_token_max_uses,
            seed=args.fault_seed,
            rate_429=args.fault_429,
            rate_500=args.fault_500,
            rate_503=args.fault_503,
            rate_drop=args.fault_drop,
            rate_drop_after_effect=args.fault_drop_after_effect,
            rate_slow=args.fault_slow,
            slow_seconds=args.slow_seconds,
            include_oauth=args.fault_oauth,
            retry_after_seconds=args.retry_after,
            retry_after_http_date=args.retry_after_http_date,
            requests_per_second=args.quota_rps,
            repeat_bookmark=args.repeat_bookmark,
        )
    except ValueError as error:
        parser.error(str(error))
    population = _population(parser, args.population)
    logging.basicConfig(level=args.log_level, stream=sys.stderr)
    emulator = PinterestEmulator(
        host=args.host,
        port=args.port,
        ad_account_ids=args.ad_account_ids or ("549755885175",),
        access_tokens=args.access_tokens or ("emulator-access-token",),
        client_id=args.client_id,
        client_secret=args.client_secret,
        refresh_tokens=args.refresh_tokens or ("emulator-refresh-token",),
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        openapi_path=args.openapi,
        faults=faults,
        population=population,
        size_lag_seconds=args.size_lag_seconds,
    )
    stopping = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        emulator.start()
    except OSError as error:
        sys.stderr.write(
            f"target-pinterest-audiences-emulator: error: cannot listen on {args.host}:{args.port}"
            f" ({error.strerror or type(error).__name__}); choose another --port\n"
        )
        return 1
    sys.stderr.write(f"Pinterest v5 emulator listening on {emulator.url}\n")
    sys.stderr.flush()
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
