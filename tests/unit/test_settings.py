"""Unit tests of the settings schema and checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from target_pinterest_audiences.settings import (
    CONFIG_SCHEMA,
    DEFAULT_LIST_NAME_TEMPLATE,
    SECRETS,
    ConfigFileError,
    SettingsError,
    check,
    from_environment,
    one_line,
    read_config_file,
    resolve,
)
from target_pinterest_audiences.target import TargetPinterestAudiences

CREDS_MESSAGE = "access_token, or all of refresh_token, client_id and client_secret, is required (missing: {})"


def config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"ad_account_id": "549755885175", "access_token": "tok"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def test_valid_config_has_no_errors() -> None:
    assert check(config()) == []


def test_refresh_credentials_suffice() -> None:
    assert check(config(access_token=None, refresh_token="r", client_id="id", client_secret="s")) == []


def test_full_valid_config() -> None:
    full = config(
        api_url="http://localhost:8080/v5",
        list_name_template="Segment {audience} - {list_type}",
        create_audience=False,
        audiences=["vip", "churned"],
        sync_mode="mirror",
        max_removal_fraction=0.25,
        records_per_request=1000,
        store_url="sqlite:///x.db",
        dry_run=False,
        on_invalid_record="fail",
        report_path="report.json",
    )
    assert check(full) == []


# -- ad_account_id ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["act_123", "12 34", "", "-5", "12a"])
def test_ad_account_id_must_be_digits(value: str) -> None:
    assert check(config(ad_account_id=value)) == ["ad_account_id must be a string of digits"]


def test_ad_account_id_must_be_a_string() -> None:
    errors = check(config(ad_account_id=549755885175))
    assert len(errors) == 1
    assert re.fullmatch(r"ad_account_id must be a string", errors[0])


def test_ad_account_id_is_required() -> None:
    cfg = config()
    del cfg["ad_account_id"]
    assert check(cfg) == ["ad_account_id is required"]


def test_ad_account_id_length() -> None:
    assert check(config(ad_account_id="1" * 19)) == ["ad_account_id must be at most 18 characters"]


# -- credentials --------------------------------------------------------------------------


def test_no_credentials_names_all_missing() -> None:
    assert check(config(access_token=None)) == [CREDS_MESSAGE.format("refresh_token, client_id, client_secret")]


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({"refresh_token": "r"}, "client_id, client_secret"),
        ({"client_id": "i"}, "refresh_token, client_secret"),
        ({"refresh_token": "r", "client_id": "i"}, "client_secret"),
        ({"refresh_token": "r", "client_secret": "s"}, "client_id"),
        ({"client_id": "i", "client_secret": "s"}, "refresh_token"),
    ],
)
def test_missing_refresh_credentials_are_named(present: dict[str, str], missing: str) -> None:
    assert check(config(access_token=None, **present)) == [CREDS_MESSAGE.format(missing)]


def test_empty_strings_count_as_missing() -> None:
    cfg = config(access_token="", refresh_token="", client_id="i", client_secret="s")
    assert check(cfg) == [CREDS_MESSAGE.format("refresh_token")]


def test_dry_run_needs_no_credentials() -> None:
    assert check(config(access_token=None, dry_run=True)) == []


def test_dry_run_false_needs_credentials() -> None:
    assert check(config(access_token=None, dry_run=False)) == [
        CREDS_MESSAGE.format("refresh_token, client_id, client_secret")
    ]


# -- list_name_template -------------------------------------------------------------------


def test_default_template() -> None:
    assert DEFAULT_LIST_NAME_TEMPLATE == "{audience} ({list_type})"
    assert CONFIG_SCHEMA["properties"]["list_name_template"]["default"] == DEFAULT_LIST_NAME_TEMPLATE


@pytest.mark.parametrize("template", ["{audience}", "x {audience} y", "{list_type}: {audience}", "{{lit}} {audience}"])
def test_good_templates(template: str) -> None:
    assert check(config(list_name_template=template)) == []


def test_template_without_audience() -> None:
    assert check(config(list_name_template="list {list_type}")) == ["list_name_template must contain {audience}"]


def test_template_with_unknown_placeholder() -> None:
    assert check(config(list_name_template="{audience} {team}")) == [
        "list_name_template has unknown placeholders ['team']; use {audience} and {list_type}"
    ]


def test_template_with_only_unknown_placeholders_reports_both() -> None:
    assert check(config(list_name_template="{name}-{id}")) == [
        "list_name_template must contain {audience}",
        "list_name_template has unknown placeholders ['id', 'name']; use {audience} and {list_type}",
    ]


@pytest.mark.parametrize("template", ["{audience", "{audience}}", "audience}", "{audience} {"])
def test_template_with_unbalanced_braces(template: str) -> None:
    assert check(config(list_name_template=template)) == ["list_name_template has an unbalanced { or }"]


# -- api_url ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://api.pinterest.com/v5", "api.pinterest.com/v5", "https://", "file:///tmp/x"])
def test_api_url_must_be_http(url: str) -> None:
    assert check(config(api_url=url)) == ["api_url must be an http(s) URL"]


@pytest.mark.parametrize("url", ["https://api.pinterest.com/v5", "http://127.0.0.1:9999/v5/", "https://proxy/v5"])
def test_api_url_http_ok(url: str) -> None:
    assert check(config(api_url=url)) == []


def test_api_url_default() -> None:
    assert CONFIG_SCHEMA["properties"]["api_url"]["default"] == "https://api.pinterest.com/v5"


# -- enums and numbers --------------------------------------------------------------------


def test_bad_sync_mode() -> None:
    assert check(config(sync_mode="replace")) == ["sync_mode must be one of changes, add_only, mirror"]


@pytest.mark.parametrize("mode", ["changes", "add_only", "mirror"])
def test_good_sync_modes(mode: str) -> None:
    assert check(config(sync_mode=mode)) == []


def test_sync_mode_default() -> None:
    assert CONFIG_SCHEMA["properties"]["sync_mode"]["default"] == "changes"


def test_bad_on_invalid_record() -> None:
    assert check(config(on_invalid_record="ignore")) == ["on_invalid_record must be one of skip, fail"]


@pytest.mark.parametrize(
    ("value", "error"),
    [(1.5, "max_removal_fraction must be at most 1"), (-0.1, "max_removal_fraction must be at least 0")],
)
def test_max_removal_fraction_range(value: float, error: str) -> None:
    assert check(config(max_removal_fraction=value)) == [error]


def test_records_per_request_minimum() -> None:
    assert check(config(records_per_request=0)) == ["records_per_request must be at least 1"]


def test_several_problems_are_all_reported() -> None:
    errors = check(config(ad_account_id="x", sync_mode="nope", api_url="ftp://a", access_token=None))
    assert errors == [
        "ad_account_id must be a string of digits",
        "sync_mode must be one of changes, add_only, mirror",
        "api_url must be an http(s) URL",
        CREDS_MESSAGE.format("refresh_token, client_id, client_secret"),
    ]


# -- one_line -----------------------------------------------------------------------------


def test_one_line() -> None:
    assert one_line(["a is wrong", "b is missing"]) == "Invalid settings: a is wrong; b is missing."


def test_one_line_of_check_has_no_newline() -> None:
    line = one_line(check(config(ad_account_id="x", list_name_template="{a", access_token=None)))
    assert "\n" not in line
    assert line.startswith("Invalid settings: ad_account_id must be a string of digits; ")


# -- secrets ------------------------------------------------------------------------------


def test_secrets_are_flagged_in_the_schema() -> None:
    assert frozenset({"access_token", "refresh_token", "client_secret"}) == SECRETS
    for name in ("access_token", "refresh_token", "client_secret"):
        assert CONFIG_SCHEMA["properties"][name]["secret"] is True
        assert CONFIG_SCHEMA["properties"][name]["writeOnly"] is True
    for name in ("client_id", "ad_account_id", "api_url"):
        assert not CONFIG_SCHEMA["properties"][name].get("secret")


def test_required_settings() -> None:
    assert CONFIG_SCHEMA["required"] == ["ad_account_id"]


SECRET_VALUE = "s3cr3t-VALUE-never-shown"


@pytest.mark.parametrize("name", ["access_token", "refresh_token", "client_secret", "client_id"])
@pytest.mark.parametrize(
    "bad",
    [
        12345987654321,
        [SECRET_VALUE],
        {"token": SECRET_VALUE},
        {SECRET_VALUE: 1},
        True,
    ],
)
def test_a_bad_secret_value_never_appears(name: str, bad: object) -> None:
    cfg = config(access_token=None, refresh_token="r", client_id="i", client_secret="s")
    cfg[name] = bad
    errors = check(cfg)
    assert len(errors) == 1
    assert re.fullmatch(rf"{name} must be a string( or empty)?", errors[0])
    text = one_line(errors)
    assert SECRET_VALUE not in text
    assert "12345987654321" not in text


@pytest.mark.parametrize(
    "overrides",
    [
        {"ad_account_id": SECRET_VALUE},
        {"api_url": SECRET_VALUE},
        {"sync_mode": SECRET_VALUE},
        {"list_name_template": SECRET_VALUE},
        {"list_name_template": "{" + SECRET_VALUE},
        {"on_invalid_record": SECRET_VALUE},
    ],
)
def test_bad_values_are_not_echoed(overrides: dict[str, Any]) -> None:
    errors = check(config(access_token=SECRET_VALUE, **overrides))
    assert errors
    assert SECRET_VALUE not in one_line(errors)


# -- unknown settings ---------------------------------------------------------------------


def test_a_misspelled_setting_is_refused_naming_the_nearest() -> None:
    assert check(config(sync_mod="mirror")) == ["sync_mod is not a setting (did you mean sync_mode?)"]


def test_a_setting_far_from_any_points_to_about() -> None:
    assert check(config(colour="blue")) == [
        "colour is not a setting (target-pinterest-audiences --about lists the settings)"
    ]


def test_settings_starting_with_underscore_are_allowed() -> None:
    assert check(config(_note="kept for the team", _meltano_extra=1)) == []


def test_an_unknown_setting_never_shows_its_value() -> None:
    line = one_line(check(config(acess_token=SECRET_VALUE)))
    assert line == "Invalid settings: acess_token is not a setting (did you mean access_token?)."


def test_inert_sdk_settings_are_unknown_to_the_target() -> None:
    builtins: dict[str, Any] = {"properties": {}}
    TargetPinterestAudiences.append_builtin_config(builtins)
    assert set(builtins["properties"]) == {"batch_size_rows", "validate_records", "stream_maps", "stream_map_config"}
    schema = {"properties": {**CONFIG_SCHEMA["properties"], **builtins["properties"]}}
    assert check(config(load_method="upsert"), schema) == [
        "load_method is not a setting (target-pinterest-audiences --about lists the settings)"
    ]
    assert check(config(flattening_enabled=True), schema)[0].startswith("flattening_enabled is not a setting")
    assert check(config(batch_size_rows=10, validate_records=False), schema) == []


# -- config files and the environment -----------------------------------------------------


def test_read_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"ad_account_id": "1"}')
    assert read_config_file(path) == {"ad_account_id": "1"}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "is not valid JSON (Expecting value at line 1 column 1); fix the file"),
        ('{"access_token": "' + SECRET_VALUE + '",}', "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object of settings; fix the file"),
    ],
)
def test_a_config_file_that_cannot_be_parsed_is_named(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigFileError) as caught:
        read_config_file(path)
    assert str(caught.value).startswith(f"config file {path} ")
    assert problem in str(caught.value)
    assert SECRET_VALUE not in str(caught.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"config file .*nope\.json does not exist; check the --config path"):
        read_config_file(tmp_path / "nope.json")


def test_the_environment_is_parsed_by_type() -> None:
    environ = {
        "TARGET_PINTEREST_AUDIENCES_MAX_REMOVAL_FRACTION": "0.3",
        "TARGET_PINTEREST_AUDIENCES_RECORDS_PER_REQUEST": "100",
        "TARGET_PINTEREST_AUDIENCES_DRY_RUN": "True",
        "TARGET_PINTEREST_AUDIENCES_CREATE_AUDIENCE": "false",
        "TARGET_PINTEREST_AUDIENCES_AUDIENCES": '["vip", "churned"]',
        "TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET": SECRET_VALUE,
        "TARGET_PINTEREST_AUDIENCES_STORE_URL": "",
        "OTHER_SYNC_MODE": "mirror",
    }
    assert from_environment(environ) == {
        "max_removal_fraction": 0.3,
        "records_per_request": 100,
        "dry_run": True,
        "create_audience": False,
        "audiences": ["vip", "churned"],
        "client_secret": SECRET_VALUE,
    }
    assert from_environment({"TARGET_PINTEREST_AUDIENCES_AUDIENCES": "vip, churned"}) == {
        "audiences": ["vip", "churned"]
    }


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [("RECORDS_PER_REQUEST", "many", "a whole number"), ("DRY_RUN", "maybe", "true or false")],
)
def test_a_variable_of_the_wrong_type_is_named(name: str, value: str, wanted: str) -> None:
    with pytest.raises(SettingsError) as caught:
        from_environment({f"TARGET_PINTEREST_AUDIENCES_{name}": value})
    assert str(caught.value).startswith(f"Invalid settings: TARGET_PINTEREST_AUDIENCES_{name} must be ")
    assert wanted in str(caught.value)
    assert value not in str(caught.value)


def test_the_environment_wins_over_the_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text('{"ad_account_id": "1", "client_id": "file", "sync_mode": "mirror"}')
    second.write_text('{"client_id": "second-file"}')
    environ = {"TARGET_PINTEREST_AUDIENCES_CLIENT_ID": "env"}
    assert resolve([first, second, "ENV"], environ) == {"ad_account_id": "1", "client_id": "env", "sync_mode": "mirror"}
    assert resolve([first, second], {}) == {"ad_account_id": "1", "client_id": "second-file", "sync_mode": "mirror"}
