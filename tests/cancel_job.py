"""A job state that asks itself to stop at its n-th check: for tests that a cancel lands where it should."""
from tlstudio.core.progress import JobState


class CancelAtCheck(JobState):
    """Counts ``check()`` calls in ``checks``; the ``n``-th one cancels (and so raises ``Cancelled``)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.checks = n, 0

    def check(self) -> None:
        self.checks += 1
        if self.checks == self.n:
            self.cancel()
        super().check()
