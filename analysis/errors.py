"""One exception hierarchy. Every message says what was wrong, where, and what to do.

The CLI catches :class:`AnalysisError`, prints its one-line message and exits with status 2; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "CorpusError",
    "ParameterError",
    "ModelError",
    "DictionaryError",
    "StageError",
    "RunLockedError",
    "SchemaError",
]


class AnalysisError(Exception):
    """Base class of every error the project raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        # IPython (JupyterLab, papermill) shows this instead of a traceback: the message is what to read
        return [f"{type(self).__name__}: {self}"]


class CorpusError(AnalysisError):
    """The corpus cannot be read: names the file, row or column, and what to do."""


class ParameterError(AnalysisError):
    """A parameter is unknown or out of range: names it, the allowed values and the value received."""


class ModelError(AnalysisError):
    """An installed model is missing or its files do not match the expected hash."""


class DictionaryError(AnalysisError):
    """The actor dictionary or a lexicon file is malformed: names the file and the entry."""


class StageError(AnalysisError):
    """A notebook stage failed; names the stage, the notebook and where partial outputs are."""


class RunLockedError(AnalysisError):
    """Another run is writing into the same output folder."""


class SchemaError(AnalysisError):
    """A table does not match its declaration in ``analysis/schema.py``: names the table and the column."""
