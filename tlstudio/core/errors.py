"""Exception types with user-facing messages.

Every error the core raises on bad input derives from ``TLStudioError``; its
``str()`` is a complete sentence a user can read. Front-ends show it as is.
"""


class TLStudioError(Exception):
    """Base class: the message is meant for the user."""


class DatasetError(TLStudioError):
    """The dataset cannot be used (missing folder, one class, empty...)."""


class UndecidedDataError(DatasetError):
    """The kind of data (image, text, ...) cannot be told from the dataset itself.

    ``found`` says what was seen, in one sentence; ``choices`` are the tasks the user may name.
    Front-ends add how to name one (the CLI's ``--task``, a question in the GUI)."""

    def __init__(self, found: str, choices: list[str]):
        self.found, self.choices = found, list(choices)
        super().__init__(f"{found}; TL Studio cannot tell whether it holds {' or '.join(self.choices)} data, "
                         "so choose which.")


class WeightsError(TLStudioError):
    """Weights cannot be found, read, downloaded or do not fit the model."""


class ModelError(TLStudioError):
    """Unknown model name or an architecture TL Studio cannot adapt."""


class HeadSpecError(TLStudioError):
    """The head description is invalid."""


class ProjectError(TLStudioError):
    """A project file is missing, invalid, or from a newer version."""


class TrainingError(TLStudioError):
    """Training failed (NaN loss, out of memory, ...)."""


class RunFolderError(TLStudioError):
    """A run folder or exported bundle is missing or incomplete."""


class ExportError(TLStudioError):
    """An export could not be written or failed its parity check."""
