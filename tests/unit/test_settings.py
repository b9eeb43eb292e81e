"""Unit tests of the settings schema and checks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from target_pinterest_audiences.settings import (
    CONFIG_SCHEMA,
    DEFAULT_LIST_NAME_TEMPLATE,
    SECRETS,
    check,
    one_line,
)

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
