"""Short, bounded excerpts of bad values for error messages: a value read from a hostile file
(a YAML alias bomb, a 200k-character field) is never rendered in full."""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["excerpt", "EXCERPT_CHARS"]

EXCERPT_CHARS = 80
"""Longest excerpt of a bad value an error message shows."""

_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxdict, _EXCERPT.maxlist, _EXCERPT.maxtuple = 2, 4, 4, 4
_EXCERPT.maxstring, _EXCERPT.maxother, _EXCERPT.maxlong = EXCERPT_CHARS, EXCERPT_CHARS, 40


def excerpt(value: Any) -> str:
    """A short ``repr`` of ``value`` for an error message: nesting, lists and strings cut
    (``...``), never more than :data:`EXCERPT_CHARS` characters whatever the value holds."""
    try:
        text = _EXCERPT.repr(value)
    except Exception:  # a value whose repr fails is still named
        text = f"<{type(value).__name__}>"
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 3] + "..."


