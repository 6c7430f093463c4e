"""SQL jobs for real, through the Debian ODBC drivers against the local
MariaDB and PostgreSQL (and a Django alias): IN/OUT/INOUT parameters, result
rows, failures, timeouts, and values that stay data."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import override_settings

from jobs.errors import ValidationError
from jobs.execution.context import PermanentFailure, RunCancelled
from jobs.execution.kinds import get_kind
from jobs.execution.kinds.sql import SqlError, convert
from tests.jobs.kinds_support import MARIADB, POSTGRES, make_ctx, make_job
from tests.needs import needs_mariadb, needs_odbc_drivers, needs_postgres_odbc, odbc_connect

sql = get_kind("sql")
HOSTILE = "x'); DROP TABLE {table}; --"


@pytest.fixture
def mariadb():
    """A MariaDB connection and a unique name prefix; everything created is dropped."""
    conn = odbc_connect(MARIADB, autocommit=True)
    prefix = f"jwt_{uuid.uuid4().hex[:8]}"
    created: list[str] = []
    yield conn, prefix, created
    for statement in reversed(created):
        conn.execute(statement)
    conn.close()


@pytest.fixture
def postgres():
    conn = odbc_connect(POSTGRES, autocommit=True)
    prefix = f"jwt_{uuid.uuid4().hex[:8]}"
    created: list[str] = []
    yield conn, prefix, created
    for statement in reversed(created):
        conn.execute(statement)
    conn.close()


def run(config, parameters=None, **kw):
    job = make_job("sql", config)
    ctx = make_ctx(job, parameters, **kw)
    return sql.execute(ctx), ctx


# --- MariaDB ----------------------------------------------------------------


@needs_mariadb
def test_mariadb_procedure_with_in_out_inout_params_and_rows(mariadb):
    conn, p, created = mariadb
    conn.execute(
        f"CREATE PROCEDURE {p}_calc(IN a INT, IN d DATE, OUT doubled INT, INOUT label VARCHAR(50)) "
        "BEGIN SET doubled = a * 2; SET label = CONCAT(label, '@', d); "
        "SELECT a AS n, 'first' AS name UNION ALL SELECT a + 1, 'second'; END"
    )
    created.append(f"DROP PROCEDURE {p}_calc")
    result, ctx = run(
        {
            "connection": MARIADB,
            "procedure": f"test.{p}_calc",
            "params": [
                {"name": "a", "type": "int", "value": "{Amount}"},
                {"name": "d", "type": "date", "value": "{today}"},
                {"name": "doubled", "type": "int", "direction": "out"},
                {"name": "label", "type": "string", "value": "run", "direction": "inout"},
            ],
        },
        {"Amount": "21", "today": "2024-05-01"},
    )
    assert result["output"] == {"doubled": 42, "label": "run@2024-05-01"}
    assert result["rows"] == [{"n": 21, "name": "first"}, {"n": 22, "name": "second"}]
    assert "2 row(s); output doubled=42" in ctx.output.getvalue()
    assert ctx.metadata["sql"]["vendor"] == "mysql"


@needs_mariadb
def test_mariadb_rows_are_bounded_by_capture_rows_and_nulls_pass(mariadb):
    conn, p, created = mariadb
    conn.execute(
        f"CREATE PROCEDURE {p}_many(IN maybe INT) BEGIN "
        "SELECT seq AS n, maybe IS NULL AS was_null FROM seq_1_to_50; END"
    )
    created.append(f"DROP PROCEDURE {p}_many")
    result, _ = run(
        {
            "connection": MARIADB,
            "procedure": f"test.{p}_many",
            "capture_rows": 5,
            "params": [{"name": "maybe", "type": "int", "value": None}],
        }
    )
    assert result["row_count"] == 5 and result["rows_truncated"] is True
    assert result["rows"][0] == {"n": 1, "was_null": 1}


@needs_mariadb
def test_mariadb_failing_procedure_reports_the_database_error(mariadb):
    conn, p, created = mariadb
    conn.execute(
        f"CREATE PROCEDURE {p}_fail() BEGIN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger is locked'; END"
    )
    created.append(f"DROP PROCEDURE {p}_fail")
    with pytest.raises(SqlError, match=rf"procedure test.{p}_fail failed.*ledger is locked"):
        run({"connection": MARIADB, "procedure": f"test.{p}_fail"})


@needs_mariadb
def test_mariadb_unknown_procedure_is_a_permanent_failure(mariadb):
    _, p, _ = mariadb
    with pytest.raises(PermanentFailure, match=r"\[42000\].*does not exist"):
        run({"connection": MARIADB, "procedure": f"test.{p}_missing"})


@needs_mariadb
def test_mariadb_procedure_past_its_timeout_is_aborted(mariadb):
    conn, p, created = mariadb
    # A loop of short sleeps: KILL QUERY / max_statement_time alone would not
    # stop the CALL, only each sleep.
    conn.execute(
        f"CREATE PROCEDURE {p}_slow() BEGIN DECLARE i INT DEFAULT 0; "
        "WHILE i < 100 DO DO SLEEP(0.1); SET i = i + 1; END WHILE; SELECT i; END"
    )
    created.append(f"DROP PROCEDURE {p}_slow")
    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded, match="exceeded the job timeout"):
        run({"connection": MARIADB, "procedure": f"test.{p}_slow"}, timeout=2)
    assert time.monotonic() - started < 4


@needs_mariadb
def test_mariadb_injection_in_a_parameter_value_leaves_the_database_untouched(mariadb):
    conn, p, created = mariadb
    conn.execute(f"CREATE TABLE {p}_victim (id INT PRIMARY KEY, note VARCHAR(200))")
    created.append(f"DROP TABLE IF EXISTS {p}_victim")
    conn.execute(f"INSERT INTO {p}_victim VALUES (1, 'keep me')")
    conn.execute(
        f"CREATE PROCEDURE {p}_note(IN txt VARCHAR(200)) BEGIN INSERT INTO {p}_victim VALUES (2, txt); END"
    )
    created.append(f"DROP PROCEDURE {p}_note")
    hostile = HOSTILE.format(table=f"{p}_victim")
    run(
        {
            "connection": MARIADB,
            "procedure": f"test.{p}_note",
            "params": [{"name": "txt", "type": "string", "value": "{Note}"}],
        },
        {"Note": hostile},
    )
    rows = conn.execute(f"SELECT id, note FROM {p}_victim ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(1, "keep me"), (2, hostile)]


@needs_mariadb
def test_failed_call_is_rolled_back(mariadb):
    conn, p, created = mariadb
    conn.execute(f"CREATE TABLE {p}_t (id INT) ENGINE=InnoDB")
    created.append(f"DROP TABLE IF EXISTS {p}_t")
    conn.execute(
        f"CREATE PROCEDURE {p}_half() BEGIN INSERT INTO {p}_t VALUES (1); SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom'; END"
    )
    created.append(f"DROP PROCEDURE {p}_half")
    with pytest.raises(SqlError):
        run({"connection": MARIADB, "procedure": f"test.{p}_half"})
    assert conn.execute(f"SELECT COUNT(*) FROM {p}_t").fetchone()[0] == 0


# --- PostgreSQL -------------------------------------------------------------


@needs_postgres_odbc
def test_postgres_procedure_returns_inout_and_out_values(postgres):
    conn, p, created = postgres
    conn.execute(
        f"CREATE PROCEDURE {p}_calc(a integer, price numeric, flag boolean, at timestamp, "
        "INOUT total numeric, OUT note text) LANGUAGE plpgsql AS $$ "
        "BEGIN total := total + a * price; note := flag::text || ' ' || at::text; END $$"
    )
    created.append(f"DROP PROCEDURE {p}_calc")
    result, _ = run(
        {
            "connection": POSTGRES,
            "procedure": f"public.{p}_calc",
            "params": [
                {"name": "a", "type": "int", "value": 3},
                {"name": "price", "type": "decimal", "value": "2.50"},
                {"name": "flag", "type": "bool", "value": "true"},
                {"name": "at", "type": "datetime", "value": "2024-05-01T10:30:00"},
                {"name": "total", "type": "decimal", "value": "1.25", "direction": "inout"},
                {"name": "note", "type": "text", "direction": "out"},
            ],
        }
    )
    assert result["output"] == {"total": "8.75", "note": "true 2024-05-01 10:30:00"}


@needs_postgres_odbc
def test_postgres_function_rows_are_captured_as_json(postgres):
    conn, p, created = postgres
    conn.execute(
        f"CREATE FUNCTION {p}_sq(n integer) RETURNS TABLE(i integer, sq bigint, day date) LANGUAGE sql AS $$ SELECT g, g*g, DATE '2024-01-01' + g FROM generate_series(1, n) g $$"
    )
    created.append(f"DROP FUNCTION {p}_sq")
    result, _ = run(
        {
            "connection": POSTGRES,
            "procedure": f"public.{p}_sq",
            "call": "function",
            "params": [{"name": "n", "type": "int", "value": 3}],
        }
    )
    assert result["rows"] == [
        {"i": 1, "sq": 1, "day": "2024-01-02"},
        {"i": 2, "sq": 4, "day": "2024-01-03"},
        {"i": 3, "sq": 9, "day": "2024-01-04"},
    ]


@needs_postgres_odbc
def test_postgres_scalar_function_gives_the_return_value(postgres):
    conn, p, created = postgres
    conn.execute(
        f"CREATE FUNCTION {p}_add(a integer, b integer) RETURNS integer LANGUAGE sql AS $$ SELECT a + b $$"
    )
    created.append(f"DROP FUNCTION {p}_add")
    result, _ = run(
        {
            "connection": POSTGRES,
            "procedure": f"public.{p}_add",
            "call": "function",
            "params": [
                {"name": "a", "type": "int", "value": 2},
                {"name": "b", "type": "int", "value": 40},
            ],
        }
    )
    assert result["return_value"] == 42


@needs_postgres_odbc
def test_postgres_raise_exception_and_timeout(postgres):
    conn, p, created = postgres
    conn.execute(
        f"CREATE PROCEDURE {p}_fail() LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'month not closed'; END $$"
    )
    conn.execute(
        f"CREATE PROCEDURE {p}_slow() LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(10); END $$"
    )
    created += [f"DROP PROCEDURE {p}_fail", f"DROP PROCEDURE {p}_slow"]
    with pytest.raises(SqlError, match=r"\[P0001\].*month not closed"):
        run({"connection": POSTGRES, "procedure": f"public.{p}_fail"})
    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded):
        run({"connection": POSTGRES, "procedure": f"public.{p}_slow"}, timeout=2)
    assert time.monotonic() - started < 4


@needs_postgres_odbc
def test_postgres_cancel_aborts_the_call(postgres):
    conn, p, created = postgres
    conn.execute(
        f"CREATE PROCEDURE {p}_slow() LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(10); END $$"
    )
    created.append(f"DROP PROCEDURE {p}_slow")
    flag = threading.Event()
    threading.Timer(1.0, flag.set).start()
    started = time.monotonic()
    with pytest.raises(RunCancelled):
        run(
            {"connection": POSTGRES, "procedure": f"public.{p}_slow"},
            timeout=30,
            cancelled=flag.is_set,
        )
    assert time.monotonic() - started < 4


@needs_postgres_odbc
def test_postgres_injection_in_a_parameter_value_leaves_the_database_untouched(postgres):
    conn, p, created = postgres
    conn.execute(f"CREATE TABLE {p}_victim (id int, note text)")
    created.append(f"DROP TABLE IF EXISTS {p}_victim")
    conn.execute(
        f"CREATE PROCEDURE {p}_note(txt text) LANGUAGE sql AS $$ INSERT INTO {p}_victim VALUES (2, txt) $$"
    )
    created.append(f"DROP PROCEDURE {p}_note")
    hostile = HOSTILE.format(table=f"{p}_victim")
    run(
        {
            "connection": POSTGRES,
            "procedure": f"public.{p}_note",
            "params": [{"name": "txt", "type": "text", "value": hostile}],
        }
    )
    assert [tuple(r) for r in conn.execute(f"SELECT id, note FROM {p}_victim").fetchall()] == [
        (2, hostile)
    ]


@needs_postgres_odbc
@pytest.mark.django_db(transaction=True)
def test_django_alias_runs_the_procedure_when_the_alias_is_allowed(postgres):
    conn, p, created = postgres
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            f"CREATE PROCEDURE {p}_dj(a integer, INOUT b integer) LANGUAGE plpgsql AS $$ BEGIN b := a + 1; END $$"
        )
    try:
        with override_settings(JOBS_SQL_ALLOWED_DATABASES=["default"]):
            result, _ = run(
                {
                    "database": "default",
                    "procedure": f"public.{p}_dj",
                    "params": [
                        {"name": "a", "type": "int", "value": 9},
                        {"name": "b", "type": "int", "direction": "inout"},
                    ],
                }
            )
        assert result["output"] == {"b": 10}
    finally:
        with connection.cursor() as cur:
            cur.execute(f"DROP PROCEDURE {p}_dj")


# --- save-time validation ---------------------------------------------------


@pytest.mark.parametrize(
    "config, field",
    [
        ({"procedure": "s.p"}, "config.connection"),
        ({"connection": "Server=x", "procedure": "s.p"}, "config.connection"),
        ({"connection": MARIADB, "database": "default", "procedure": "s.p"}, "config.connection"),
        ({"database": "default", "procedure": "s.p"}, "config.database"),
        ({"connection": MARIADB, "procedure": "p; DROP TABLE users"}, "config.procedure"),
        ({"connection": MARIADB, "procedure": "a.b.c"}, "config.procedure"),
        (
            {"connection": MARIADB, "procedure": "s.p", "params": [{"name": "x", "type": "money"}]},
            "config.params[0].type",
        ),
        (
            {"connection": MARIADB, "procedure": "s.p", "params": [{"name": "x y", "type": "int"}]},
            "config.params[0].name",
        ),
        (
            {
                "connection": MARIADB,
                "procedure": "s.p",
                "params": [{"name": "x", "type": "int", "value": "abc"}],
            },
            "config.params[0].value",
        ),
        (
            {
                "connection": MARIADB,
                "procedure": "s.p",
                "params": [{"name": "x", "type": "int", "value": 1, "direction": "out"}],
            },
            "config.params[0].value",
        ),
        (
            {
                "connection": MARIADB,
                "procedure": "s.p",
                "params": [{"name": "x", "type": "int", "direction": "sideways"}],
            },
            "config.params[0].direction",
        ),
        ({"connection": MARIADB, "procedure": "s.p", "capture_rows": 10**9}, "config.capture_rows"),
    ],
)
@needs_odbc_drivers
def test_bad_sql_config_is_refused_naming_the_field(config, field):
    with pytest.raises(ValidationError) as exc:
        sql.validate({"config": config})
    assert exc.value.message.startswith(field), exc.value.message


@needs_odbc_drivers
def test_procedure_allowlist_is_enforced_at_save_and_at_run():
    with override_settings(JOBS_SQL_ALLOWED_PROCEDURES=["reporting.*", "public.archive"]):
        sql.validate({"config": {"connection": MARIADB, "procedure": "Reporting.Daily"}})
        with pytest.raises(ValidationError, match="not in JOBS_SQL_ALLOWED_PROCEDURES"):
            sql.validate({"config": {"connection": MARIADB, "procedure": "public.drop_everything"}})
        job = make_job("sql", {"connection": MARIADB, "procedure": "public.drop_everything"})
        with pytest.raises(PermanentFailure, match="not an allowed procedure"):
            sql.execute(make_ctx(job))


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        ("int", "42", 42),
        ("bigint", 2**40, 2**40),
        ("bool", "yes", True),
        ("bool", 0, False),
        ("decimal", "1.10", __import__("decimal").Decimal("1.10")),
        ("date", "2024-05-01T10:00:00", __import__("datetime").date(2024, 5, 1)),
        ("string", 12, "12"),
        ("int", None, None),
    ],
)
def test_values_convert_to_their_declared_type(kind, value, expected):
    assert convert(kind, value, "f") == expected


@pytest.mark.parametrize(
    "kind, value",
    [
        ("int", True),
        ("int", "1.5"),
        ("int", 2**40),
        ("bool", "maybe"),
        ("date", "May 1st"),
        ("decimal", "abc"),
    ],
)
def test_bad_values_are_refused(kind, value):
    with pytest.raises(ValueError, match="f: "):
        convert(kind, value, "f")


def test_connection_password_is_masked_in_errors():
    job = make_job(
        "sql",
        {
            "connection": "DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=3306;UID=nobody;PWD=Sup3r-Secret-pw;DATABASE=test",
            "procedure": "p",
        },
    )
    with pytest.raises(Exception) as exc:
        sql.execute(make_ctx(job))
    assert "Sup3r-Secret-pw" not in str(exc.value)
