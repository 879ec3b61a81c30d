"""The `bbcompress` command line: parse arguments, call the library, print, map errors.

``base`` holds the command group and error handling, ``user`` the user's commands (no
torch is imported by them), ``research`` the training and evaluation commands (torch is
imported when they run). Importing the two registers their commands on ``main``.
"""
from __future__ import annotations

from . import research, user
from .base import friendly_errors, main

__all__ = ["friendly_errors", "main", "research", "user"]
