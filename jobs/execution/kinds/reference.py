"""The `config` keys of each job kind, documented: the source of
docs/job-kinds.md (`make docs` writes it; a test fails when the file, or a
kind's accepted keys, drift from this table).

Each kind's validate() decides what is valid; this table says what each key
means. tests/jobs/test_kind_reference.py checks that every key a kind
accepts (its KEYS, plus the keys every kind accepts) is documented here and
nothing else is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    name: str
    type: str
    default: str
    meaning: str


# Keys every kind accepts (jobs.execution.configcheck.COMMON_KEYS).
COMMON = (
    Key(
        "secret_parameters",
        "object name → value",
        "{}",
        "Parameters kept encrypted (`JOBS_SECRET_KEYS`) and masked on every read; "
        "they override `parameters` of the same name.",
    ),
    Key(
        "connections",
        "object name → ODBC string",
        "{}",
        "Named ODBC connection strings for `parameter_queries` (encrypted, masked).",
    ),
)

KINDS: dict[str, dict[str, object]] = {
    "python": {
        "summary": "Calls a registered Python function (`target: module:function`) with the "
        "run's context. `config` needs only the common keys; other keys are kept as "
        "given and readable by the function as `ctx.job.config` (use `secret_parameters` for "
        "credentials).",
        "keys": (),
        "example": {
            "name": "nightly-report",
            "kind": "python",
            "target": "myapp.jobs:nightly_report",
            "parameters": {"region": "eu"},
            "cron": "0 2 * * *",
        },
    },
    "process": {
        "summary": "Runs an allowlisted executable with an argument list, never a shell. "
        "The process leads its own process group; timeout and cancel kill all of it.",
        "keys": (
            Key(
                "executable",
                "string",
                "required",
                "Absolute path, or a name found on `JOBS_PROCESS_PATH`; its real path must "
                "match `JOBS_PROCESS_ALLOWED_EXECUTABLES`. No placeholders.",
            ),
            Key(
                "args",
                "list of strings/numbers",
                "[]",
                "One element per argument; `{parameter}` placeholders are rendered inside "
                "an element and it stays one argument, whatever the value holds. Built-in "
                "macros: `{now}`, `{today}`, `{yesterday}`, `{run_id}`, `{job_name}`, `{attempt}`.",
            ),
            Key(
                "cwd",
                "string",
                "a fresh temporary directory",
                "Absolute working directory; must exist.",
            ),
            Key(
                "env",
                "object name → string, or {value, secret}",
                "{}",
                "Added to a fixed base environment (PATH, HOME, LANG); names must match "
                "`JOBS_PROCESS_ALLOWED_ENV`. Credential-like names, or `secret: true`, are "
                "encrypted and masked.",
            ),
            Key(
                "success_exit_codes",
                "list of integers",
                "[0]",
                "Exit codes that count as success.",
            ),
        ),
        "example": {
            "name": "rotate-logs",
            "kind": "process",
            "config": {
                "executable": "/usr/sbin/logrotate",
                "args": ["--state", "/var/lib/logrotate/state", "{conf}"],
                "env": {"JOB_VERBOSE": "1"},
            },
            "parameters": {"conf": "/etc/logrotate.conf"},
            "cron": "15 3 * * *",
        },
    },
    "http": {
        "summary": "Sends one HTTP request (plus redirects) and checks the answer. Every "
        "address goes through the network guard (`JOBS_HTTP_ALLOWED_NETWORKS`). 5xx, 429 "
        "and connection errors are transient (retried); other failures are permanent.",
        "keys": (
            Key("url", "string", "required", "http or https URL; may hold `{parameter}`."),
            Key("method", "string", "GET", "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS."),
            Key(
                "headers",
                "object name → string, or {value, secret}",
                "{}",
                "Request headers; credential-like names (Authorization, X-Api-Key, Cookie, …) "
                "or `secret: true` are encrypted and masked.",
            ),
            Key(
                "auth",
                "object",
                "none",
                "`{type: bearer, token}`, `{type: basic, username, password}` or "
                "`{type: header, name, value}`; the secret parts are encrypted.",
            ),
            Key(
                "body",
                "string, object or list",
                "none",
                "A template string, or JSON whose strings are templates.",
            ),
            Key("content_type", "string", "from the body", "Content-Type of the body."),
            Key(
                "expect_status",
                "list of codes or classes",
                '["2xx"]',
                'Statuses that count as success, e.g. `[200, 204]` or `["2xx"]`.',
            ),
            Key(
                "expect_json",
                "object {path, equals}",
                "none",
                "The JSON answer at `path` (e.g. `$.status`) must equal `equals`.",
            ),
            Key("expect_regex", "string", "none", "The body must match this regex."),
            Key(
                "max_response_bytes",
                "integer",
                "`JOBS_HTTP_MAX_RESPONSE_BYTES`",
                "Bytes of the answer read at most.",
            ),
            Key("timeout", "number (seconds)", "the job's remaining time", "Per-request timeout."),
            Key("verify_tls", "boolean", "true", "Verify the server's certificate."),
            Key("ca_bundle", "string", "system CAs", "Absolute path to a PEM bundle."),
            Key(
                "follow_redirects",
                "boolean",
                "true",
                "Follow redirects (each hop is checked by the network guard).",
            ),
        ),
        "example": {
            "name": "warm-cache",
            "kind": "http",
            "config": {
                "method": "POST",
                "url": "https://api.example.com/cache/warm?day={yesterday:%Y-%m-%d}",
                "auth": {"type": "bearer", "token": "secret-token"},
                "expect_status": [200, 202],
            },
            "cron": "*/30 * * * *",
        },
    },
    "sql": {
        "summary": "Calls a stored procedure or function through ODBC or a Django database "
        "alias. Values are always bound, never formatted into SQL.",
        "keys": (
            Key(
                "connection",
                "string (secret)",
                "one of connection/database",
                "ODBC connection string with `DRIVER=` or `DSN=`; encrypted and masked.",
            ),
            Key(
                "database",
                "string",
                "one of connection/database",
                "A Django database alias (`DATABASES`).",
            ),
            Key(
                "procedure",
                "string",
                "required",
                "`name` or `schema.name`; must match `JOBS_SQL_ALLOWED_PROCEDURES` when set.",
            ),
            Key(
                "call",
                "string",
                "procedure",
                "`procedure` (CALL) or `function` (SELECT * FROM f(...)).",
            ),
            Key(
                "params",
                "list of {name, type, value, direction}",
                "[]",
                "Types int, bigint, string, text, datetime, date, decimal, bool; direction "
                "in (default), out or inout; `value` may hold `{parameter}`.",
            ),
            Key(
                "capture_rows",
                "integer",
                "100",
                "Rows of the first result set kept (at most `JOBS_SQL_MAX_ROWS`).",
            ),
            Key(
                "autocommit",
                "boolean",
                "false",
                "false: the call runs in one transaction, committed on success.",
            ),
        ),
        "example": {
            "name": "close-day",
            "kind": "sql",
            "config": {
                "connection": "DRIVER={PostgreSQL Unicode};SERVER=db;DATABASE=erp;UID=jobs;PWD=…",
                "procedure": "finance.close_day",
                "params": [{"name": "day", "type": "date", "value": "{yesterday}"}],
            },
            "cron": "30 0 * * *",
        },
    },
}


def documented_keys(kind: str) -> set[str]:
    keys = KINDS[kind]["keys"]
    assert isinstance(keys, tuple)
    return {key.name for key in keys}


def _table(keys: tuple[Key, ...]) -> list[str]:
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{k.name}` | {k.type} | {k.default} | {k.meaning} |" for k in keys]
    return lines


def render() -> str:
    """docs/job-kinds.md, whole."""
    import yaml

    out = [
        "# Job kinds and their `config` keys",
        "",
        "Generated from `jobs/execution/kinds/reference.py` by `make docs`; a test fails "
        "when this file or a kind's accepted keys drift from it. Each kind's `validate()` "
        "refuses any other key, naming it.",
        "",
        "## Keys every kind accepts",
        "",
        *_table(COMMON),
    ]
    for kind, entry in KINDS.items():
        keys = entry["keys"]
        assert isinstance(keys, tuple)
        out += ["", f"## `{kind}`", "", str(entry["summary"]), ""]
        if keys:
            out += [*_table(keys), ""]
        example = yaml.safe_dump([entry["example"]], sort_keys=False, allow_unicode=True)
        out += ["```yaml", example.rstrip(), "```"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
