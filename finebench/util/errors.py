"""Exceptions that carry enough context (file, key, line, sample) for a user to fix the input."""

from __future__ import annotations


class FinebenchError(Exception):
    """Base class of all errors finebench reports to users without a traceback."""


class ConfigError(FinebenchError):
    """A task YAML, model card or recipe is malformed; the message names the file and key."""


class ItemFileError(FinebenchError):
    """A benchmark item file has a bad row; the message names the file and 1-based line."""


class UnknownNameError(FinebenchError):
    """An unknown task, group, model or protocol name; the message carries a suggestion."""


class DataLayoutError(FinebenchError):
    """An official dataset folder does not have the expected layout; names the missing file."""
