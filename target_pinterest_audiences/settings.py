"""The target's settings: their JSON schema, defaults, and one-line checks.

The schema is the single source of ``--about``, Meltano's settings and the README table.
Checks run before any input is read and name the setting, never a secret's value.
"""

from __future__ import annotations

import difflib
import json
import logging
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import jsonschema
from singer_sdk import typing as th

from target_pinterest_audiences.pinterest.client import DEFAULT_API_URL

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
logger = logging.getLogger(__name__)
#: Settings also come from ``TARGET_PINTEREST_AUDIENCES_<NAME>`` variables (the SDK's prefix).
ENV_PREFIX = "TARGET_PINTEREST_AUDIENCES_"

SYNC_MODES = ("changes", "add_only", "mirror")
ON_INVALID = ("skip", "fail")
DEFAULT_LIST_NAME_TEMPLATE = "{audience} ({list_type})"
#: 5,000 SHA-256 hashes make a 325 kB body. Pinterest documents no largest request; Tealium
#: batches at 1 MB and Braze at 1,900 users (PINTEREST.md), so this stays well under the one
#: and needs 2.6 times fewer requests of the scarce ads_write quota than the other.
DEFAULT_RECORDS_PER_REQUEST = 5_000
#: Pinterest documents no ads_write figure we could read; third parties quote 7 QPS (Braze)
#: and 400 writes a minute (Amperity). 6.5 requests/s, evenly spaced, uses 93 % of the first
#: with never more than 7 request starts in any one second.
DEFAULT_REQUESTS_PER_SECOND = 6.5
DEFAULT_MAX_RETRY_SECONDS = 600.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 120.0
#: With Pinterest's replies taking 0.1-0.3 s, four lists in flight fill a 10 requests/s quota.
DEFAULT_PARALLEL_REQUESTS = 4
DEFAULT_PROGRESS_SECONDS = 30.0
PLACEHOLDERS = frozenset({"audience", "list_type"})

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "ad_account_id",
        th.StringType(pattern=r"^\d+$", max_length=18),
        required=True,
        title="Ad account ID",
        description="The Pinterest ad account (digits) that owns the customer lists.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="Access token",
        description="A Pinterest v5 OAuth access token with ads:read and ads:write. "
        "Use this, or refresh_token with client_id and client_secret.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="Refresh token",
        description="With client_id and client_secret, the target gets and renews access tokens "
        "itself. A refresh token Pinterest rotates is kept in the store and used from then on.",
    ),
    th.Property("client_id", th.StringType, title="Client ID", description="Pinterest app id."),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="Client secret",
        description="Pinterest app secret.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="API URL",
        description="Base URL of Pinterest's v5 API; every path is appended to it "
        "(the sandbox, a proxy, or the local emulator).",
    ),
    th.Property(
        "list_name_template",
        th.StringType,
        default=DEFAULT_LIST_NAME_TEMPLATE,
        title="List name template",
        description="Name of the customer list of an audience, with the placeholders {audience} "
        "(required) and {list_type} (EMAIL, IDFA or MAID).",
    ),
    th.Property(
        "create_audience",
        th.BooleanType,
        default=True,
        title="Create audience",
        description="When a list is created, also create a CUSTOMER_LIST audience on it, of the same name.",
    ),
    th.Property(
        "audiences",
        th.ArrayType(th.StringType),
        title="Audiences",
        description="Sync only these audience keys (others are counted and ignored). Also lets an "
        "identify call without context.personas carry membership: a listed trait holding a "
        "boolean is a signal.",
    ),
    th.Property(
        "sync_mode",
        th.StringType(allowed_values=list(SYNC_MODES)),
        default="changes",
        title="Sync mode",
        description="changes: true adds and false removes; add_only: removals are counted, not sent; "
        "mirror: each run holds an audience's whole membership, and members the store knows that "
        "did not appear are removed.",
    ),
    th.Property(
        "max_removal_fraction",
        th.NumberType(minimum=0, maximum=1),
        default=0.5,
        title="Max removal fraction",
        description="Mirror mode refuses a run that would remove more than this share of a list's known members.",
    ),
    th.Property(
        "records_per_request",
        th.IntegerType(minimum=1, maximum=100_000),
        default=DEFAULT_RECORDS_PER_REQUEST,
        title="Records per request",
        description="Identifiers per ADD or REMOVE request (default 5000: a 325 kB body).",
    ),
    th.Property(
        "store_url",
        th.StringType,
        title="Store URL",
        description="SQLAlchemy URL of the target's own store (list ids, what each list holds, "
        "rotated tokens). Default: the SQLite file .target-pinterest-audiences/store.db in the "
        "working directory; postgresql+psycopg://... for runs that share no disk.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        title="Dry run",
        description="Send nothing to Pinterest and write nothing to the store; report what would be sent.",
    ),
    th.Property(
        "on_invalid_record",
        th.StringType(allowed_values=list(ON_INVALID)),
        default="skip",
        title="On invalid record",
        description="skip: an unusable record is counted and logged by stream, position and reason "
        "(never its values); fail: the run stops.",
    ),
    th.Property(
        "report_path",
        th.StringType,
        title="Report path",
        description="Write the run report as JSON to this file.",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType(minimum=0),
        default=DEFAULT_REQUESTS_PER_SECOND,
        title="Max requests per second",
        description="Client-side pacing of all requests to Pinterest (0 turns it off).",
    ),
    th.Property(
        "max_retry_seconds",
        th.NumberType(minimum=0),
        default=DEFAULT_MAX_RETRY_SECONDS,
        title="Max retry seconds",
        description="How long one request may keep being retried (429, 5xx, timeouts) before the run stops.",
    ),
    th.Property(
        "parallel_requests",
        th.IntegerType(minimum=1, maximum=32),
        default=DEFAULT_PARALLEL_REQUESTS,
        title="Parallel requests",
        description="Lists written at once, each with its own keep-alive connection, so that network latency"
        " overlaps; max_requests_per_second still bounds the total rate.",
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType(minimum=0),
        default=DEFAULT_PROGRESS_SECONDS,
        title="Progress interval seconds",
        description="Log a progress line (records read, rate, requests, retries) this often; 0 turns it off.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType(minimum=1),
        default=DEFAULT_REQUEST_TIMEOUT_SECONDS,
        title="Request timeout seconds",
        description="How long to wait for Pinterest's reply to one request before retrying it.",
    ),
).to_dict()

#: The SDK's built-in settings that act in this target. The others it would offer do nothing
#: here (``load_method``: lists are always updated in place; ``add_record_metadata``: records
#: are never stored; ``faker_config``: faker is not installed) or would break the record shapes
#: (``flattening_*``: Segment's ``context.personas`` must stay nested), so ``--about`` and
#: Meltano never offer them and a config that sets them is refused as an unknown setting.
SDK_SETTINGS = ("batch_size_rows", "validate_records", "stream_maps", "stream_map_config")
#: Built-in settings the SDK adds that this target takes out again (flattening goes with its capability).
INERT_SDK_SETTINGS = ("add_record_metadata", "load_method", "faker_config")

SECRETS = frozenset(name for name, spec in CONFIG_SCHEMA["properties"].items() if spec.get("secret"))


_TYPE_NAMES = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "an object",
    "null": "empty",
}


class SettingsError(ValueError):
    """Settings that cannot work; ``str()`` is one line naming the settings."""


def _describe(error: jsonschema.ValidationError) -> str:
    """Say what is wrong with a setting without echoing its value (it may be a secret)."""
    name = ".".join(str(part) for part in error.absolute_path) or "settings"
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "a setting"
        return f"{missing} is required"
    rule: Any = error.validator_value
    kind = str(error.validator)
    if kind == "type":
        kinds = [rule] if isinstance(rule, str) else list(rule)
        problem = "must be " + " or ".join(_TYPE_NAMES.get(str(k), str(k)) for k in kinds)
    elif kind == "pattern":
        problem = "must be a string of digits" if rule == r"^\d+$" else f"must match {rule}"
    elif kind == "enum":
        problem = f"must be one of {', '.join(map(str, rule))}"
    else:
        problem = {
            "minimum": f"must be at least {rule}",
            "maximum": f"must be at most {rule}",
            "maxLength": f"must be at most {rule} characters",
        }.get(kind, "is not valid")
    return f"{name} {problem}"


def _template_errors(template: str) -> list[str]:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return ["list_name_template has an unbalanced { or }"]
    errors = []
    if "audience" not in fields:
        errors.append("list_name_template must contain {audience}")
    unknown = fields - PLACEHOLDERS
    if unknown:
        errors.append(
            f"list_name_template has unknown placeholders {sorted(unknown)}; use {{audience}} and {{list_type}}"
        )
    return errors


def drop_inert_sdk_settings(schema: dict[str, Any]) -> None:
    """Take out of ``schema`` the SDK's built-in settings that do nothing here (see SDK_SETTINGS)."""
    for name in INERT_SDK_SETTINGS:
        schema.get("properties", {}).pop(name, None)


def _unknown(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """A setting nobody reads is most often a typo that silently changes a run (``sync_mod``)."""
    known = list(schema.get("properties", {}))
    errors = []
    for name in config:
        if str(name).startswith("_") or name in known:  # ``_`` settings are the user's own notes
            continue
        nearest = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        hint = f"did you mean {nearest[0]}?" if nearest else "target-pinterest-audiences --about lists the settings"
        errors.append(f"{name} is not a setting ({hint})")
    return errors


def check(config: Mapping[str, Any], schema: Mapping[str, Any] = CONFIG_SCHEMA) -> list[str]:
    """Every problem with the settings, each a short phrase naming the setting."""
    errors = _unknown(config, schema)
    validator = jsonschema.Draft7Validator(schema)
    errors += [_describe(error) for error in validator.iter_errors(dict(config))]
    errors += _template_errors(str(config.get("list_name_template") or DEFAULT_LIST_NAME_TEMPLATE))
    api_url = str(config.get("api_url") or DEFAULT_API_URL)
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        errors.append("api_url must be an http(s) URL")
    if not config.get("dry_run") and not config.get("access_token"):
        missing = [name for name in ("refresh_token", "client_id", "client_secret") if not config.get(name)]
        if missing:
            errors.append(
                "access_token, or all of refresh_token, client_id and client_secret, is required"
                f" (missing: {', '.join(missing)})"
            )
    return errors


def one_line(errors: list[str]) -> str:
    """Join setting problems into the one line a user sees."""
    return "Invalid settings: " + "; ".join(errors) + "."


class ConfigFileError(ValueError):
    """A config file that cannot be read or parsed; ``str()`` is one line naming the file."""


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in one config JSON file, or a one-line error naming the file and what to do.

    Never quotes the file's content: it holds secrets.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path} does not exist; check the --config path") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigFileError(f"cannot read config file {path} ({reason}); check the --config path") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            f"config file {path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); fix the file"
        ) from None
    if not isinstance(config, dict):
        raise ConfigFileError(f"config file {path} must hold a JSON object of settings; fix the file")
    return config


def _kinds(spec: Mapping[str, Any]) -> set[str]:
    kind = spec.get("type", "string")
    return {kind} if isinstance(kind, str) else set(kind)


def _parse_variable(variable: str, value: str, spec: Mapping[str, Any]) -> object:
    """One variable's value by its setting's type, as Meltano exports them (JSON for lists)."""
    kinds = _kinds(spec)
    wanted = " or ".join(sorted(_TYPE_NAMES.get(kind, kind) for kind in kinds - {"null"}))
    wrong = SettingsError(f"Invalid settings: {variable} must be {wanted}; fix or unset it.")
    if "boolean" in kinds:
        lowered = value.strip().lower()
        if lowered not in TRUE_WORDS + FALSE_WORDS:
            raise wrong
        return lowered in TRUE_WORDS
    try:
        if "integer" in kinds:
            return int(value)
        if "number" in kinds:
            return float(value)
        if "array" in kinds or "object" in kinds:
            if "array" in kinds and not value.lstrip().startswith("["):
                return [item.strip() for item in value.split(",") if item.strip()]
            return json.loads(value)
    except ValueError:
        raise wrong from None
    return value


#: Variables under the prefix that are not settings but are read by someone: the SDK's log level.
OTHER_VARIABLES = frozenset({"LOGLEVEL"})
#: A NAME this similar to a setting's (difflib ratio) is a typo of it, not another plugin's name.
NEAR_MISS = 0.8


def _squashed(name: str) -> str:
    return name.replace("_", "").upper()


def unknown_variables(
    environ: Mapping[str, str], schema: Mapping[str, Any] = CONFIG_SCHEMA
) -> tuple[list[str], list[str]]:
    """``TARGET_PINTEREST_AUDIENCES_<NAME>`` variables that set nothing: (refused, warned).

    A NAME that is a near miss of a setting's (``DRYRUN`` for ``DRY_RUN``, ``SYNC_MOD``) is
    refused: the user meant that setting, and a run without it may write what they wanted
    dry. Other unknown names get a warning. Names that end in ``_<SETTING>`` are what Meltano
    exports for an inheriting plugin (``TARGET_PINTEREST_AUDIENCES_ACME_DRY_RUN`` for
    ``target-pinterest-audiences-acme``: Meltano 4.4 writes each setting under the plugin's
    name and under its parent's namespace, ``ProjectPlugin.env_prefixes``): never refused, and
    not worth a warning either.
    """
    settings = sorted({name.upper() for name in [*schema.get("properties", {}), *SDK_SETTINGS]})
    refused: list[str] = []
    warned: list[str] = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :]
        if name in settings or name in OTHER_VARIABLES or not name or "__" in name or name.startswith("_"):
            continue  # a setting, the SDK's LOGLEVEL, or a Meltano extra (``..._ACME__LOAD_SCHEMA``)
        if any(name.endswith("_" + setting) for setting in settings):
            continue
        squashed = [setting for setting in settings if _squashed(setting) == _squashed(name)]
        nearest = squashed or difflib.get_close_matches(name, settings, n=1, cutoff=NEAR_MISS)
        if nearest:
            refused.append(f"{variable} is not a setting (did you mean {ENV_PREFIX}{nearest[0]}?)")
        else:
            warned.append(variable)
    return refused, warned


def check_environment(environ: Mapping[str, str], schema: Mapping[str, Any] = CONFIG_SCHEMA) -> None:
    """Refuse near misses of a setting's variable in one line; warn once about other unknown names."""
    refused, warned = unknown_variables(environ, schema)
    if warned:
        logger.warning(
            "Ignoring %s: %s of target-pinterest-audiences (--about lists them).",
            ", ".join(warned),
            "not a setting" if len(warned) == 1 else "not settings",
        )
    if refused:
        raise SettingsError(one_line(refused))


def from_environment(environ: Mapping[str, str], schema: Mapping[str, Any] = CONFIG_SCHEMA) -> dict[str, Any]:
    """The settings set as ``TARGET_PINTEREST_AUDIENCES_<NAME>`` variables, parsed by their type.

    The target and ``target-pinterest-audiences-auth`` both read variables here. Not the SDK's
    ``--config ENV`` parser: it leaves a number such as ``max_removal_fraction=0.3`` a string,
    which then fails validation, and Meltano exports every setting it knows this way. An empty
    variable counts as unset.
    """
    found: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        variable = ENV_PREFIX + name.upper()
        value = environ.get(variable)
        if value:
            found[name] = _parse_variable(variable, value, spec)
    return found


def resolve(
    config_files: Sequence[str | Path], environ: Mapping[str, str], schema: Mapping[str, Any] = CONFIG_SCHEMA
) -> dict[str, Any]:
    """Settings as the target and its auth helper read them: the files in order, the environment on top.

    The environment wins, as under Meltano (a variable overrides meltano.yml), so a secret kept
    out of the file (``TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET``) fills it in. ``ENV`` among the
    files (the SDK's way of asking for the environment) is accepted and changes nothing.
    """
    files = [str(path) for path in config_files if str(path) != "ENV"]
    check_environment(environ, schema)
    config: dict[str, Any] = {}
    for path in files:
        config |= read_config_file(path)
    environment = from_environment(environ, schema)
    if environment:
        # Names only: which variables override the file is what a puzzled user needs to see.
        logger.info(
            "Settings from %s, then from the environment: %s.",
            ", ".join(files) or "no config file",
            ", ".join(ENV_PREFIX + name.upper() for name in environment),
        )
    return config | environment


#: Where --help of every command sends a reader for the whole story: the README, which is the
#: package's page on PyPI (pyproject.toml's readme) and the repository's front page.
README = "the README: https://pypi.org/project/target-pinterest-audiences/"


def help_text(schema: Mapping[str, Any] = CONFIG_SCHEMA) -> str:
    """The target's --help: what it does, where settings come from, each setting in a line, exit codes."""
    rows = []
    for name, spec in schema.get("properties", {}).items():
        marks = [
            word
            for word, flag in (("required", name in schema.get("required", [])), ("secret", spec.get("secret")))
            if flag
        ]
        first = str(spec.get("description", "")).split(". ")[0].rstrip(".")
        rows.append(f"  {name}{' (' + ', '.join(marks) + ')' if marks else ''}: {first}.")
    what = (
        "Keep Pinterest Ads customer lists in step with audience membership: read Singer messages (stdin, or"
        " --input) from any tap, and add or remove each audience's members through Pinterest's API v5"
        " (identifiers only as SHA-256 hashes). A run first checks that the token reaches ad_account_id."
    )
    where = (
        "Settings come from --config FILE (JSON), with TARGET_PINTEREST_AUDIENCES_<NAME> variables on top"
        " (--about lists them with their defaults):"
    )
    status = (
        "Exit status: 0 succeeded; 2 wrong settings or command line (nothing read or sent); 1 the run failed;"
        " 130/143 interrupted."
    )
    more = (
        "Connect a Pinterest account: target-pinterest-audiences-auth login. Try it without one:"
        f" target-pinterest-audiences-emulator. More: {README}."
    )
    return "\n\n".join([what, where, "\b\n" + "\n".join(rows), status, more])
