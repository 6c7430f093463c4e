"""Parameters: sources and precedence, macros in the job's time zone, dynamic
query parameters, rendering that keeps values data, and masking."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test import override_settings

from jobs.execution.context import PermanentFailure
from jobs.params import (
    ParameterError,
    UnresolvedParameter,
    bind_placeholders,
    mask_parameters,
    render,
    resolve_parameters,
    validate_parameter_spec,
)
from tests.jobs.kinds_support import POSTGRES, make_job
from tests.needs import needs_postgres_odbc

NOW = datetime(2024, 3, 10, 23, 30, 15, 123456, tzinfo=UTC)


def resolve(job, overrides=None, attempt=1):
    return resolve_parameters(job, overrides, run_id="run-1", attempt=attempt, now=NOW)


# --- rendering ----------------------------------------------------------------


def test_whole_placeholder_keeps_the_value_type_and_mixed_text_becomes_a_string():
    assert render("{N}", {"N": 5}) == 5
    assert render("n={N}", {"N": 5}) == "n=5"
    assert render("{N}", {"N": 5}, mode="string") == "5"


def test_format_specs_apply_strftime_to_dates_and_format_to_numbers():
    params = {"now": datetime(2024, 1, 2, 3, 4), "x": 3.14159}
    assert render("{now:%Y-%m-%d}_{x:.2f}", params) == "2024-01-02_3.14"


def test_unknown_placeholder_names_itself_and_where_it_is():
    with pytest.raises(
        UnresolvedParameter, match=r"unknown parameter \{Missing\} in config.url"
    ) as exc:
        render("{Missing}", {"a": 1}, where="config.url")
    assert isinstance(exc.value, PermanentFailure)  # retrying cannot fix it


def test_json_braces_stay_literal_and_doubled_braces_escape_a_placeholder():
    assert render('{"a": {"b": "{X}"}}', {"X": "v"}) == '{"a": {"b": "v"}}'
    assert render("{{X}} is {X}", {"X": "v"}) == "{X} is v"


def test_json_mode_escapes_strings_and_allows_only_scalars_outside_quotes():
    assert (
        render(
            '{"s": "{S}", "n": {N}, "b": {B}}', {"S": 'a"b\\c\n', "N": 2.5, "B": True}, mode="json"
        )
        == '{"s": "a\\"b\\\\c\\n", "n": 2.5, "b": true}'
    )
    with pytest.raises(UnresolvedParameter):
        render('{"n": {N}}', {"N": '1}, {"x": 1'}, mode="json")


def test_url_mode_encodes_path_and_query_and_restricts_the_host():
    assert (
        render(
            "https://{Host}/a/{P}?q={Q}#{F}",
            {"Host": "api.example.com", "P": "x y/z", "Q": "a&b=c", "F": "#"},
            mode="url",
        )
        == "https://api.example.com/a/x%20y%2Fz?q=a%26b%3Dc#%23"
    )
    with pytest.raises(UnresolvedParameter, match="host part"):
        render("https://{Host}/", {"Host": "evil.com/@x"}, mode="url")


def test_header_mode_refuses_line_breaks():
    with pytest.raises(UnresolvedParameter, match="line breaks"):
        render("v={V}", {"V": "a\r\nSet-Cookie: x"}, mode="header")


def test_query_placeholders_become_bound_parameters():
    sql, values = bind_placeholders(
        "SELECT max(d) FROM t WHERE a = {Account} AND n LIKE '10%'",
        {"Account": "1 OR 1=1"},
        "format",
    )
    assert sql == "SELECT max(d) FROM t WHERE a = %s AND n LIKE '10%%'"
    assert values == ["1 OR 1=1"]
    assert bind_placeholders("SELECT {A}", {"A": 1}, "qmark") == ("SELECT ?", [1])


# --- resolving ----------------------------------------------------------------


def test_macros_are_in_the_jobs_time_zone():
    job = make_job("process", {"executable": "/bin/true"}, timezone="Europe/Prague")
    params = resolve(job, attempt=2)
    # 23:30 UTC on 10 March is already 11 March in Prague.
    assert params["today"] == date(2024, 3, 11)
    assert params["yesterday"] == date(2024, 3, 10)
    assert params["now"].isoformat() == "2024-03-11T00:30:15+01:00"
    assert render("{now:%Y-%m-%d %H:%M}", params) == "2024-03-11 00:30"
    assert (params["run_id"], params["job_name"], params["attempt"]) == ("run-1", job.name, 2)


def test_precedence_is_macros_then_static_then_secret_then_overrides():
    job = make_job(
        "process",
        {
            "executable": "/bin/true",
            "secret_parameters": {"Token": "s3cr3t-value", "Region": "secret-eu"},
        },
        parameters={"Region": "static-eu", "Mode": "full", "today": "custom-today"},
    )
    params = resolve(job, {"Mode": "delta"})
    assert params["Region"] == "secret-eu"
    assert params["Mode"] == "delta"
    assert params["today"] == "custom-today"
    assert params["Token"] == "s3cr3t-value"


def test_unknown_placeholder_in_the_config_fails_resolution_before_execution():
    job = make_job("process", {"executable": "/bin/echo", "args": ["{CurrentDate}"]})
    with pytest.raises(
        UnresolvedParameter, match=r"unknown parameter \{CurrentDate\} in config.args\[0\]"
    ):
        resolve(job)


@pytest.mark.django_db
def test_query_parameter_from_a_django_alias_is_the_first_column_of_the_first_row():
    job = make_job(
        "process",
        {"executable": "/bin/echo", "args": ["{CurrentDate}"]},
        parameters={"Offset": 2},
        parameter_queries=[
            {
                "name": "CurrentDate",
                "query": "SELECT DATE '2024-01-01' + {Offset}::int",
                "database": "default",
            }
        ],
    )
    with override_settings(JOBS_SQL_ALLOWED_DATABASES=["default"]):
        assert resolve(job)["CurrentDate"] == date(2024, 1, 3)


@pytest.mark.django_db
def test_failing_query_fails_with_the_parameter_the_query_and_the_database_error():
    job = make_job(
        "process",
        {"executable": "/bin/true"},
        parameter_queries=[
            {
                "name": "CurrentDate",
                "query": "SELECT no_such_column FROM pg_class",
                "database": "default",
            }
        ],
    )
    with (
        override_settings(JOBS_SQL_ALLOWED_DATABASES=["default"]),
        pytest.raises(ParameterError) as exc,
    ):
        resolve(job)
    assert exc.value.message.startswith(
        "parameter 'CurrentDate' from query 'SELECT no_such_column FROM pg_class' failed: "
    )
    assert "no_such_column" in exc.value.message and "does not exist" in exc.value.message
    assert not isinstance(
        exc.value, PermanentFailure
    )  # a database may recover: retry policy applies


@pytest.mark.django_db
def test_the_default_database_is_not_a_query_target_unless_listed():
    job = make_job(
        "process",
        {"executable": "/bin/true"},
        parameter_queries=[
            {"name": "X", "query": "SELECT password FROM auth_user", "database": "default"}
        ],
    )
    with pytest.raises(UnresolvedParameter, match="not in JOBS_SQL_ALLOWED_DATABASES"):
        resolve(job)


@pytest.mark.django_db(transaction=True)
def test_parameter_queries_are_read_only():
    table = f"jwt_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int)")
    try:
        job = make_job(
            "process",
            {"executable": "/bin/true"},
            parameter_queries=[
                {
                    "name": "X",
                    "query": f"WITH w AS (INSERT INTO {table} VALUES (1) RETURNING id) SELECT id FROM w",
                    "database": "default",
                }
            ],
        )
        with (
            override_settings(JOBS_SQL_ALLOWED_DATABASES=["default"]),
            pytest.raises(ParameterError, match="must only read"),
        ):
            resolve(job)
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == 0
    finally:
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")


@needs_postgres_odbc
def test_query_parameter_through_an_encrypted_odbc_connection():
    job = make_job(
        "process",
        {"executable": "/bin/true", "connections": {"reporting": POSTGRES}},
        parameter_queries=[
            {"name": "Answer", "query": "SELECT 40 + {Two}", "connection": "reporting"}
        ],
        parameters={"Two": 2},
    )
    assert POSTGRES not in str(job.config)
    assert resolve(job)["Answer"] == 42


def test_an_override_replaces_a_query_which_is_then_not_run():
    job = make_job(
        "process",
        {"executable": "/bin/true", "connections": {"reporting": POSTGRES}},
        parameter_queries=[
            {"name": "Day", "query": "SELECT broken syntax here", "connection": "reporting"}
        ],
    )
    assert resolve(job, {"Day": "2024-12-31"})["Day"] == "2024-12-31"


@needs_postgres_odbc
def test_query_returning_no_rows_is_an_error():
    job = make_job(
        "process",
        {"executable": "/bin/true", "connections": {"r": POSTGRES}},
        parameter_queries=[{"name": "X", "query": "SELECT 1 WHERE false", "connection": "r"}],
    )
    with pytest.raises(UnresolvedParameter, match="returned no rows"):
        resolve(job)


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"parameters": ["a"]}, "parameters"),
        ({"parameters": {"bad name": 1}}, "parameters"),
        ({"parameter_queries": [{"name": "X", "query": "SELECT 1"}]}, "parameter_queries[0]"),
        (
            {"parameter_queries": [{"name": "X", "query": "SELECT 1", "connection": "nope"}]},
            "parameter_queries[0].connection",
        ),
        (
            {"parameter_queries": [{"name": "X", "query": "", "database": "default"}]},
            "parameter_queries[0].query",
        ),
        (
            {"parameter_queries": [{"name": "X", "query": "SELECT 1", "database": "default"}]},
            "parameter_queries[0].database",
        ),
        (
            {"parameter_queries": [{"name": "X", "query": "SELECT 1", "database": "x", "sql": 1}]},
            "parameter_queries[0]",
        ),
    ],
)
def test_bad_parameter_specs_are_refused_naming_the_field(spec, field):
    from jobs.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        validate_parameter_spec(spec)
    assert field in exc.value.fields or exc.value.message.startswith(field), exc.value.message


# --- masking ------------------------------------------------------------------


def test_masked_parameters_hide_secrets_and_are_json_ready():
    job = make_job(
        "process", {"executable": "/bin/true", "secret_parameters": {"Pin": "8-8-8-8-8"}}
    )
    params = resolve(job, {"api_token": "tok-123456", "Plain": "visible"})
    masked = mask_parameters(job, params)
    assert masked["Pin"] == "********"
    assert masked["api_token"] == "********"
    assert masked["Plain"] == "visible"
    assert masked["today"] == "2024-03-10" and masked["now"] == "2024-03-10T23:30:15+00:00"
    assert "8-8-8-8-8" not in str(masked) and "tok-123456" not in str(masked)


@needs_postgres_odbc
def test_a_cached_query_result_is_reused_within_its_time_to_live():
    job = make_job(
        "process",
        {"executable": "/bin/true", "connections": {"r": POSTGRES}},
        parameter_queries=[
            {"name": "Stamp", "query": "SELECT clock_timestamp()", "connection": "r", "cache": 60}
        ],
    )
    uncached = make_job(
        "process",
        {"executable": "/bin/true", "connections": {"r": POSTGRES}},
        parameter_queries=[
            {"name": "Stamp", "query": "SELECT clock_timestamp()", "connection": "r"}
        ],
    )
    first, second = resolve(job)["Stamp"], resolve(job)["Stamp"]
    assert isinstance(first, datetime) and first == second
    assert resolve(uncached)["Stamp"] != resolve(uncached)["Stamp"]
