"""What a process job may not configure: environment variables outside the
allowlist, and {placeholders} in code.

Which arguments of a process job are code: the inline script of an
interpreter (`sh -c SCRIPT`, `python -c CODE`, `perl -e CODE`, `node -e`,
`awk PROGRAM` …). A {placeholder} there would splice a parameter value into
code (`x; rm -rf ~`), so the process kind refuses it; values go in as their
own arguments instead (`sh -c 'echo "$1"' sh {name}`, `sys.argv[1]`), where
they stay data. Launchers that run their arguments as a command (env, nice,
timeout, nohup, setsid, stdbuf) are looked through.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Any

from django.conf import settings

from jobs.params import placeholders

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names a job may never set, whatever JOBS_PROCESS_ALLOWED_ENV says: the
# fixed base (PATH, HOME decide what runs and which dotfiles load) and the
# loader's and shells' code hooks (with them the executable allowlist would
# mean nothing).
_NEVER_ENV = re.compile(
    r"^(PATH|HOME|LD_.*|DYLD_.*|BASH_FUNC_.*|BASH_ENV|ENV|GCONV_PATH|GLIBC_TUNABLES|HOSTALIASES)$"
)


def env_refusal(name: str) -> str | None:
    """Why a job may not set the environment variable `name`, or None. An
    allowlist (JOBS_PROCESS_ALLOWED_ENV globs, default JOB_*): interpreters
    read too many variables as code (PYTHONWARNINGS, PERL5OPT, NODE_OPTIONS,
    SHELLOPTS+PS4, JAVA_TOOL_OPTIONS, GIT_SSH_COMMAND …) for a denylist."""
    if not _ENV_NAME.match(name):
        return "is not a valid environment variable name"
    if _NEVER_ENV.match(name):
        return "is fixed by Jobwarden (it would change what runs)"
    if not any(fnmatch.fnmatchcase(name, p) for p in settings.JOBS_PROCESS_ALLOWED_ENV):
        allowed = ", ".join(settings.JOBS_PROCESS_ALLOWED_ENV) or "none"
        return f"is not in JOBS_PROCESS_ALLOWED_ENV ({allowed})"
    return None


def inline_code_refusal(executable: str, args: list[Any]) -> tuple[int, str] | None:
    """(index, message) of the first interpreter inline script that holds a
    {placeholder} (jobs.execution.kinds.interpreters), or None."""
    texts = [a if isinstance(a, str) else str(a) for a in args]
    real = os.path.realpath(executable) if executable.startswith("/") else executable
    for i in code_arguments([executable, real], texts):
        if placeholders(texts[i]):
            return i, (
                "a {placeholder} inside an interpreter's inline script is code, not data: "
                "pass the value as its own argument (sh -c 'echo \"$1\"' sh {name}; "
                "sys.argv[1]) instead"
            )
    return None


# Interpreter family → a pattern for its executable's file name.
_FAMILIES = {
    "shell": re.compile(r"^(sh|bash|dash|ash|zsh|ksh|mksh|pdksh|yash|csh|tcsh|fish|busybox)$"),
    "python": re.compile(r"^(python|pypy)[\d.]*m?$"),
    "perl": re.compile(r"^perl[\d.]*$"),
    "ruby": re.compile(r"^(ruby|jruby)[\d.]*$"),
    "node": re.compile(r"^(node|nodejs|deno|bun)$"),
    "php": re.compile(r"^php[\d.]*$"),
    "lua": re.compile(r"^(lua|luajit)[\d.]*$"),
    "r": re.compile(r"^(Rscript|R)$"),
    "tcl": re.compile(r"^(tclsh|wish)[\d.]*$"),
    "awk": re.compile(r"^(awk|gawk|mawk|nawk|busybox-awk)$"),
    "sed": re.compile(r"^(sed|gsed)$"),
}
# Short option letters that take inline code, per family (clusters like -ec,
# -lne count); long options that do.
_CODE_LETTERS = {
    "shell": "c", "python": "c", "perl": "eE", "ruby": "e", "node": "ep",
    "php": "rBRFE", "lua": "e", "r": "e", "sed": "e",
}  # fmt: skip
_CODE_LONG = {"--command", "--eval", "--print", "--expression", "--exec"}
# Short options whose value is the next argument (not code, not a script).
_VALUE_LETTERS = {"shell": "oO", "python": "WX", "perl": "Ix", "ruby": "IEr", "node": "r"}
_LAUNCHERS = re.compile(r"^(env|nice|timeout|nohup|setsid|stdbuf|ionice|chrt|taskset|xargs)$")


def family(executable: str) -> str | None:
    """The interpreter family of an executable path (by file name), or None."""
    name = os.path.basename(executable)
    for key, pattern in _FAMILIES.items():
        if pattern.match(name):
            return key
    return None


def code_arguments(executables: list[str], args: list[str]) -> list[int]:
    """Indices into `args` that hold inline code for the interpreter named by
    any of `executables` (the configured path and its real path)."""
    names = [os.path.basename(e) for e in executables]
    if any(_LAUNCHERS.match(n) for n in names):
        return _through_launcher(args)
    kinds = {family(e) for e in executables} - {None}
    found: list[int] = []
    for kind in kinds:
        found += _awk_program(args) if kind == "awk" else _code_after_flags(kind, args)
    return sorted(set(found))


def _through_launcher(args: list[str]) -> list[int]:
    # Skip the launcher's own options, NAME=value pairs and numbers
    # (timeout 10, nice -n 5 …); the next argument is the real program.
    for i, arg in enumerate(args):
        if arg.startswith("-") or "=" in arg or re.fullmatch(r"[\d.]+[smhd]?", arg):
            continue
        inner = code_arguments([arg], args[i + 1 :])
        # Unknown program after a launcher: its arguments might be anything,
        # but only a known interpreter makes them code.
        return [i] * ("{" in arg) + [i + 1 + j for j in inner]
    return []


def _code_after_flags(kind: str, args: list[str]) -> list[int]:
    letters = _CODE_LETTERS.get(kind, "")
    found = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        if arg in _CODE_LONG or any(arg.startswith(f"{o}=") for o in _CODE_LONG):
            found.append(i if "=" in arg else i + 1)
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            cluster = arg[1:]
            at = next((k for k, ch in enumerate(cluster) if ch in letters), None)
            if at is not None:
                # Code attached (-cprint(1), -e'…') or in the next argument.
                found.append(i if at < len(cluster) - 1 else i + 1)
            elif cluster[-1] in _VALUE_LETTERS.get(kind, ""):
                i += 1  # -o pipefail, -W error: skip the option's value
        elif kind == "sed":
            if not found:
                found.append(i)  # no -e: the first operand is the script
            break
        else:
            break  # a script file: what follows is its argv (data)
        i += 1
    return [k for k in found if k < len(args)]


def _awk_program(args: list[str]) -> list[int]:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-f", "--file"):
            return []  # program from a file: the rest is data
        if arg in ("-v", "-F", "--assign", "--field-separator"):
            i += 2
            continue
        if arg == "--":
            return [i + 1] if i + 1 < len(args) else []
        if not arg.startswith("-"):
            return [i]
        i += 1
    return []
