"""Errors a user can act on: the command line prints them as one line and exits 2."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """A user's input file cannot be used; the message names the file (and line)."""
