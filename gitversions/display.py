"""What the command line prints for names and free text: never a control character.

A file name, a commit message or a source label comes from whoever wrote the
history, perhaps on another machine (``fetch``, ``clone``). Printed raw, a
name holding a newline forges output lines (``"x\\nM  SKILL.md"``) and an
escape sequence drives the terminal. Two functions make them inert:

- :func:`quote_path`, for file paths: git's quoting with ``core.quotePath``
  on, byte for byte, so names read the same as in ``git diff --name-status``
  and patches apply with ``git apply``;
- :func:`printable`, for free text (messages, labels, error messages): C0
  controls, DEL and C1 controls become ``\\uXXXX`` (``\\n``, ``\\r``, ``\\t``
  for the common ones), the form JSON and TOML use; a byte that is not UTF-8
  (kept by ``surrogateescape``) becomes ``\\xNN``.

``--json`` output does not pass through here: it carries the exact values.
"""

from __future__ import annotations

__all__ = ["printable", "quote_path"]

# git's quote.c (cq_lookup): these bytes get a letter, other controls, DEL and
# (with core.quotePath) bytes >= 0x80 get three octal digits
_C_LETTERS = {
    0x07: "a",
    0x08: "b",
    0x09: "t",
    0x0A: "n",
    0x0B: "v",
    0x0C: "f",
    0x0D: "r",
    0x22: '"',
    0x5C: "\\",
}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _needs_quote(byte: int) -> bool:
    return byte < 0x20 or byte >= 0x7F or byte in (0x22, 0x5C)


def quote_path(path: str, prefix: str = "") -> str:
    """``prefix + path`` as git prints a path with ``core.quotePath=true``.

    Unchanged if it holds only printable ASCII other than ``"`` and ``\\``;
    otherwise in double quotes, with C escapes (``\\n``, ``\\t``, ``\\"``,
    ``\\\\``) and every other control byte, DEL and each byte of a non-ASCII
    character as a three-digit octal escape (``\\303\\251`` for ``é``).

    Args:
        path: The path (a str; bytes that are not UTF-8 ride along as
            ``surrogateescape`` and are quoted as the bytes they were).
        prefix: Quoted together with the path, as git does with ``a/`` and
            ``b/`` in a patch's headers.

    Returns:
        The quoted path.
    """
    data = (prefix + path).encode("utf-8", "surrogateescape")
    if not any(_needs_quote(byte) for byte in data):
        return prefix + path
    parts = ['"']
    for byte in data:
        if byte in _C_LETTERS:
            parts.append("\\" + _C_LETTERS[byte])
        elif _needs_quote(byte):
            parts.append(f"\\{byte:03o}")
        else:
            parts.append(chr(byte))
    parts.append('"')
    return "".join(parts)


def _inert(char: str) -> bool:
    code = ord(char)
    return not (code < 0x20 or 0x7F <= code < 0xA0 or 0xDC80 <= code <= 0xDCFF)


def printable(text: str, keep: str = "") -> str:
    """``text`` with every control character escaped, for a terminal.

    Args:
        text: Free text: a message, a label, an error message.
        keep: Control characters to leave as they are (``"\\n"`` for a
            multi-line block the command itself lays out).

    Returns:
        The text; unchanged when it holds no control character.
    """
    if all(_inert(char) or char in keep for char in text):
        return text
    return "".join(
        char if _inert(char) or char in keep else _escape(char) for char in text
    )


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return _SHORT.get(char) or f"\\u{code:04x}"
