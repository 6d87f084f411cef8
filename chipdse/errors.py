"""Errors a user can fix: the CLI prints them as one line and exits with status 2."""

from __future__ import annotations

from microarch.schema import SpecError

__all__ = ["UserError", "SpecError", "USER_ERRORS"]


class UserError(ValueError):
    """Bad input that is not a file-format problem (an impossible option combination, ...)."""


# Exceptions that mean "the input is wrong", never "chipdse is broken".
USER_ERRORS = (UserError, SpecError)
