"""Does a command line need a shell? A conservative scan of sh's syntax.

A crontab line is run by `sh -c`. Jobwarden runs a process job's argv
directly, so a line maps to executable + args (split with shlex) only when
sh would have done nothing but split words and remove quotes; anything else
(pipes, redirection, lists, variables, substitution, globs, ~, brace
expansion, builtins, assignments) is reported with the reason.
"""

from __future__ import annotations

import re

_UNQUOTED = {
    "|": "a pipe or || ('|')",
    "&": "&& or a background job ('&')",
    ";": "a command list (';')",
    "<": "redirection ('<')",
    ">": "redirection ('>')",
    "(": "a subshell ('(')",
    ")": "a subshell (')')",
    "$": "a variable or substitution ('$')",
    "`": "command substitution ('`')",
    "*": "a glob ('*')",
    "?": "a glob ('?')",
    "[": "a glob ('[')",
    "\n": "several lines",
}
_AT_WORD_START = {"~": "home directory expansion ('~')", "#": "a comment ('#')"}
_BRACES = re.compile(r"\{[^{}\s]*(,|\.\.)[^{}\s]*\}")
# Words sh treats itself: reserved words and builtins with no binary to run.
_SH_WORDS = (
    "! { } case do done elif else esac fi for function if in select then until while "
    ". alias bg break cd command continue eval exec exit export fg getopts hash jobs "
    "local read readonly return set shift source trap type ulimit umask unalias unset wait"
)
_BUILTINS = frozenset(_SH_WORDS.split())
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def shell_reason(command: str) -> str | None:
    """Why `command` needs a shell, or None if shlex.split gives sh's argv."""
    quote = ""
    word_start = True
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            escaped, word_start = False, False
            continue
        if quote == "'":
            quote = "" if ch == "'" else quote
            continue
        if ch == "\\":
            # In double quotes sh drops a backslash before $ and `; shlex keeps it.
            if quote == '"' and command[i + 1 : i + 2] in ("$", "`"):
                return "an escape inside double quotes ('\\')"
            escaped = quote == "" or command[i + 1 : i + 2] in ('"', "\\")
            continue
        if quote == '"':
            if ch == '"':
                quote = ""
            elif ch in "$`":
                return _UNQUOTED[ch] + " inside double quotes"
            continue
        if ch in "'\"":
            quote, word_start = ch, False
        elif ch in " \t":
            word_start = True
        elif ch in _UNQUOTED:
            return _UNQUOTED[ch]
        elif word_start and ch in _AT_WORD_START:
            return _AT_WORD_START[ch]
        else:
            word_start = False
    if quote:
        return f"an unterminated quote ({quote})"
    if _BRACES.search(command):
        return "brace expansion ('{a,b}')"
    first = command.split(None, 1)[0] if command.strip() else ""
    if first in _BUILTINS:
        return f"the shell builtin or keyword {first!r}"
    if _ASSIGNMENT.match(first):
        return f"a variable assignment ({first.split('=', 1)[0]}=...)"
    return None
