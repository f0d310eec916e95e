"""One base class for every error the package raises on purpose.

The CLI catches :class:`ClassifyError` once and prints its message as one line; anything else is
a bug and is reported as one line plus a pointer to ``--debug``.
"""

from __future__ import annotations


class ClassifyError(Exception):
    """An input, config, store or model cannot be used; the message names it and the problem."""


class ConfigError(ClassifyError, ValueError):
    """A configuration cannot be used; the message names the file and the key."""


class DataError(ClassifyError, ValueError):
    """Labelled data cannot be used for training; the message names the file and the problem."""


class InputError(ClassifyError, ValueError):
    """Measures given to a model (a JSONL file, a DataFrame, a served request) are unusable."""


class OutputError(ClassifyError, ValueError):
    """An output path cannot be written; checked before any work starts."""


class TrackingError(ClassifyError, RuntimeError):
    """The tracking store or registry cannot be used; the message says which and why."""


class ModelFormatError(ClassifyError, ValueError):
    """A saved model folder is not one this version of classify can load."""


class NoticeError(ClassifyError, ValueError):
    """A notice file cannot be used; the message names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        shown = self.path if self.path.isprintable() else repr(self.path)  # keep the message one line
        super().__init__(f"{shown}: {problem}")

    def __reduce__(self):  # picklable with its two arguments (Spark executors send errors back)
        return (type(self), (self.path, self.problem))
