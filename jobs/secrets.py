"""Secrets inside a job's kind config: sealed (encrypted) on save, opened for
execution only, masked on every read.

Which fields are secret (per kind, see `secret_paths`):
- every kind: `secret_parameters.<name>`, `connections.<name>` (ODBC strings
  for parameter queries);
- http: `auth.token` / `auth.password` / `auth.value`, headers named like
  credentials (Authorization, X-Api-Key, Cookie, ...) or given as
  `{"value": ..., "secret": true}`;
- process: `env` entries named like credentials or marked the same way;
- every kind: `connection` (sql: the ODBC string it runs on; python: kept
  for the job's own use, a connection string all the same).

Shown masked but stored in clear (display only, `masked_parameters` and
`mask_url`; `restore_masked` puts the stored value back when a masked value is
saved again): a job's `parameters` named like credentials, and in every string
of the config and the parameters, a URL's userinfo and its credential query
values (`?token=`, `?api_key=`, `?sig=` ...).

The clear values live only in `Job.secrets`, a Fernet token (MultiFernet over
JOBS_SECRET_KEYS, newest key first: rows sealed with an older key still open,
`secrets_rotate` re-seals them with the newest). `Job.config` holds the mask
in their place, so any read of the row is already masked. Saving a config
whose secret field still shows the mask keeps the stored secret.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

from jobs.errors import JobwardenError, ValidationError

MASK = "********"
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
    }
)
SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|credential|auth(?!ors?\b)|private[_-]?key)", re.I
)

Path = tuple[str, ...]


class SecretsUnavailable(JobwardenError):
    """Secrets cannot be sealed or opened (no key, or no key fits)."""

    code = "secrets_unavailable"
    http_status = 500


def _is_secret_entry(name: str, value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("secret")) or bool(SECRET_NAME.search(name))
    return name.lower() in SECRET_HEADERS or bool(SECRET_NAME.search(name))


def _entry_path(section: str, name: str, value: Any) -> Path:
    return (section, name, "value") if isinstance(value, dict) else (section, name)


def secret_paths(kind: str, config: dict[str, Any]) -> list[Path]:
    """Where the secrets of a `kind` config are (only paths that exist)."""
    config = config or {}
    paths: list[Path] = []
    for section in ("secret_parameters", "connections"):
        block = config.get(section)
        if isinstance(block, dict):
            paths.extend((section, str(name)) for name in block)
    if kind == "http":
        auth = config.get("auth")
        if isinstance(auth, dict):
            paths.extend(("auth", key) for key in ("token", "password", "value") if key in auth)
        headers = config.get("headers")
        if isinstance(headers, dict):
            paths.extend(
                _entry_path("headers", n, v) for n, v in headers.items() if _is_secret_entry(n, v)
            )
    elif kind == "process":
        env = config.get("env")
        if isinstance(env, dict):
            paths.extend(_entry_path("env", n, v) for n, v in env.items() if _is_secret_entry(n, v))
    if "connection" in config:
        paths.append(("connection",))
    return paths


def _get(config: dict[str, Any], path: Path) -> Any:
    node: Any = config
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(config: dict[str, Any], path: Path, value: Any) -> None:
    node = config
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


# --- keys --------------------------------------------------------------------


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]):
    from cryptography.fernet import Fernet, MultiFernet

    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise SecretsUnavailable(f"JOBS_SECRET_KEYS holds a malformed Fernet key ({exc})") from None


def _fernet():
    keys = tuple(settings.JOBS_SECRET_KEYS or ())
    if not keys:
        raise SecretsUnavailable(
            "JOBS_SECRET_KEYS is not set: secrets cannot be stored or read "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    return _fernet_for(keys)


def encrypt(data: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt(token: str, *, job_name: str = "") -> dict[str, Any]:
    from cryptography.fernet import InvalidToken

    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        owner = f" of job {job_name!r}" if job_name else ""
        raise SecretsUnavailable(
            f"cannot decrypt the secrets{owner}: none of JOBS_SECRET_KEYS fits (was the key that sealed them removed?)"
        ) from None


# --- the interface used by job services, kinds and readers --------------------


def seal_config(
    kind: str, config: dict[str, Any], previous_secrets: str = ""
) -> tuple[dict[str, Any], str]:
    """Split `config` into (public config with masks, encrypted secrets blob).

    A masked value in `config` keeps the previous secret (so a read-modify-
    write round-trip through the API does not erase it); a masked value with
    no previous secret is a ValidationError. Raises SecretsUnavailable when
    there is a secret to store but no key: secrets are never saved in clear.
    """
    public = copy.deepcopy(config or {})
    previous: dict[str, Any] | None = None
    sealed: dict[str, Any] = {}
    for path in secret_paths(kind, public):
        value = _get(public, path)
        key = json.dumps(list(path))
        if value == MASK:
            if previous is None:
                previous = decrypt(previous_secrets)
            if key not in previous:
                dotted = ".".join(path)
                raise ValidationError(
                    f"config.{dotted}: the value is masked but no secret is stored for it; enter the value",
                    fields={f"config.{dotted}": "masked without a stored secret"},
                )
            value = previous[key]
        if value is None or value == "":
            continue
        sealed[key] = value
        _set(public, path, MASK)
    return public, (encrypt(sealed) if sealed else "")


def unfilled_masks(kind: str, config: dict[str, Any], previous_secrets: str = "") -> list[str]:
    """Secret fields (`config.<path>`) that show the mask with no stored secret
    behind it: a file exported from another instance, say. seal_config would
    refuse the first; a batch (`jobs apply`) reports them all before saving."""
    masked = [path for path in secret_paths(kind, config or {}) if _get(config, path) == MASK]
    if not masked:
        return []
    previous = decrypt(previous_secrets)
    return ["config." + ".".join(p) for p in masked if json.dumps(list(p)) not in previous]


def open_config(job: Any) -> dict[str, Any]:
    """The full config with secrets in clear, for execution only: never log,
    store or return it."""
    config = copy.deepcopy(job.config) if job.config else {}
    for key, value in decrypt(job.secrets or "", job_name=getattr(job, "name", "")).items():
        _set(config, tuple(json.loads(key)), value)
    return config


def masked_config(job: Any) -> dict[str, Any]:
    """The config as every read (admin, API, CLI, audit) shows it. Masks
    again on the way out, so even a config saved without sealing shows no
    secret."""
    config = _mask_strings(copy.deepcopy(job.config or {}))
    for path in secret_paths(job.kind, config):
        if _get(config, path) not in (None, ""):
            _set(config, path, MASK)
    return config


# --- display masking of values kept in clear ---------------------------------

# Query names that carry a credential without saying so: signed URLs (Azure
# SAS `sig`, AWS/GCS `X-Amz-Signature` / `X-Goog-Signature`), OAuth `code`.
_URL_CREDENTIAL = re.compile(
    r"^(sig|signature|x-(amz|goog)-(signature|credential|security-token)|code|key|"
    r"access_token|refresh_token|client_secret|sas|jwt)$",
    re.I,
)
_PLACEHOLDER_ONLY = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*(:[^{}]*)?\}$")


def _is_credential_query(name: str) -> bool:
    return bool(_URL_CREDENTIAL.match(name) or SECRET_NAME.search(name))


def _split_url(text: str) -> Any:
    if "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    return parts if parts.netloc else None


def _query_pairs(query: str) -> list[tuple[str, str | None]]:
    return [
        (name, value if sep else None)
        for name, sep, value in (pair.partition("=") for pair in query.split("&"))
    ]


def _join_query(pairs: list[tuple[str, str | None]]) -> str:
    return "&".join(name if value is None else f"{name}={value}" for name, value in pairs)


def mask_url(text: str) -> str:
    """`text` with a URL's credentials masked: the userinfo (a password, or a
    token given as the user) and the values of credential query parameters.
    A `{placeholder}` stays (it is the template, not the secret). Anything
    that is not a URL comes back unchanged."""
    parts = _split_url(text)
    if parts is None:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
    pairs = [
        (name, MASK if value and _is_credential_query(name) and not _PLACEHOLDER_ONLY.match(value)
         else value)
        for name, value in _query_pairs(parts.query)
    ] if parts.query else []  # fmt: skip
    return urlunsplit((parts.scheme, netloc, parts.path, _join_query(pairs), parts.fragment))


def _unmask_url(new: str, current: str) -> str:
    """The inverse of mask_url against the stored URL: each masked part takes
    the stored value of the same part (userinfo, or the query value of the
    same name)."""
    if MASK not in new or not isinstance(current, str):
        return new
    if mask_url(current) == new:
        return current
    parts, old = _split_url(new), _split_url(current)
    if parts is None or old is None:
        return new
    netloc = parts.netloc
    if "@" in netloc and "@" in old.netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        old_userinfo = old.netloc.rpartition("@")[0]
        if userinfo == MASK:
            userinfo = old_userinfo
        elif userinfo.endswith(f":{MASK}"):
            userinfo = userinfo[: -len(MASK)] + old_userinfo.partition(":")[2]
        netloc = f"{userinfo}@{hostport}"
    stored = dict(reversed(_query_pairs(old.query)))  # the first of each name wins
    pairs = [
        (name, stored.get(name, value) if value == MASK else value)
        for name, value in _query_pairs(parts.query)
    ] if parts.query else []  # fmt: skip
    return urlunsplit((parts.scheme, netloc, parts.path, _join_query(pairs), parts.fragment))


def url_credentials(value: Any) -> list[str]:
    """The clear credentials mask_url hides, in every URL string of `value`
    (any depth): for redacting run records, where the URL is shown again."""
    if isinstance(value, dict):
        return [c for v in value.values() for c in url_credentials(v)]
    if isinstance(value, list):
        return [c for v in value for c in url_credentials(v)]
    parts = _split_url(value) if isinstance(value, str) else None
    if parts is None:
        return []
    found = [parts.password or parts.username or ""] if "@" in parts.netloc else []
    found += [
        v for n, v in _query_pairs(parts.query) if v and _is_credential_query(n)
    ] if parts.query else []  # fmt: skip
    return [f for f in found if f and f != MASK and not _PLACEHOLDER_ONLY.match(f)]


def _mask_strings(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: _mask_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_strings(v) for v in value]
    return value


def masked_parameters(parameters: Any) -> Any:
    """A job's default parameters as shown (API, CLI, admin, audit): values
    under credential-like names masked at any depth, URL credentials masked."""
    if isinstance(parameters, dict):
        return {
            k: MASK
            if SECRET_NAME.search(str(k)) and v not in (None, "") and not isinstance(v, dict | list)
            else masked_parameters(v)
            for k, v in parameters.items()
        }
    if isinstance(parameters, list):
        return [masked_parameters(v) for v in parameters]
    return _mask_strings(parameters)


def restore_masked(new: Any, current: Any) -> Any:
    """`new` (from a client that read a masked view) with every masked value
    replaced by the stored one, so echoing a masked read back never saves the
    mask over a secret. A mask with nothing stored behind it stays (and is
    refused for sealed secrets by seal_config)."""
    if new == MASK:
        return MASK if current in (None, "") else current
    if isinstance(new, str):
        return _unmask_url(new, current) if MASK in new else new
    if isinstance(new, dict):
        current = current if isinstance(current, dict) else {}
        return {k: restore_masked(v, current.get(k)) for k, v in new.items()}
    if isinstance(new, list):
        current = current if isinstance(current, list) else []
        return [
            restore_masked(v, current[i] if i < len(current) else None) for i, v in enumerate(new)
        ]
    return new


def secret_values(kind: str, config: dict[str, Any]) -> list[str]:
    """The clear secret strings of an opened config (for redaction)."""
    values = []
    for path in secret_paths(kind, config):
        value = _get(config, path)
        if (
            isinstance(value, str | int)
            and not isinstance(value, bool)
            and str(value)
            and value != MASK
        ):
            values.append(str(value))
    return values


def secrets_rotate(*, actor: Any = None) -> int:
    """Re-seal every job's secrets with the newest key (MultiFernet.rotate),
    so an old key can then be removed. Idempotent; one row at a time, each
    under a row lock with its audit record (secrets.rotate, no values).
    Raises SecretsUnavailable if some row opens with none of the keys.
    Returns how many jobs were re-sealed."""
    from django.db import transaction

    from jobs.actors import Actor
    from jobs.models import Job
    from jobs.services.audit import audit_record

    actor = actor or Actor.system()
    fernet = _fernet()
    count = 0
    for pk in Job.objects.exclude(secrets="").values_list("pk", flat=True):
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=pk)
            if job.secrets:
                decrypt(job.secrets, job_name=job.name)  # clear error if no key fits
                job.secrets = fernet.rotate(job.secrets.encode()).decode()
                job.save(update_fields=["secrets"])
                audit_record(
                    actor=actor,
                    action="secrets.rotate",
                    target_type="job",
                    target=job.name,
                    job_name=job.name,
                )
                count += 1
    return count


@register(Tags.security)
def secret_keys_configured(app_configs, **kwargs):
    """Fail loudly at start-up: malformed keys, or jobs whose secrets nobody
    could open because JOBS_SECRET_KEYS is empty."""
    keys = tuple(settings.JOBS_SECRET_KEYS or ())
    if keys:
        try:
            _fernet_for(keys)
        except SecretsUnavailable as exc:
            return [Error(exc.message, id="jobs.E010")]
        return []
    from django.db import DatabaseError

    from jobs.models import Job

    try:
        count = Job.objects.exclude(secrets="").count()
    except DatabaseError:  # no table yet (before migrate): nothing to open
        return []
    if count:
        return [
            Error(
                f"{count} job(s) hold encrypted secrets but JOBS_SECRET_KEYS is empty: they cannot run.",
                hint="Set JOBS_SECRET_KEYS to the key(s) they were sealed with (newest first).",
                id="jobs.E011",
            )
        ]
    return []
