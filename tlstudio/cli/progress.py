"""Terminal progress for the CLI: a one-line bar on stderr redrawn with "\\r".

Fed by the trainer's events; no extra dependency. Redraws are throttled so a
fast loop does not spend its time writing to the terminal.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tlstudio.core.train import events as ev

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    fraction = 0.0 if total <= 0 else min(1.0, max(0.0, done / total))
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "-" * (width - filled) + f"] {fraction * 100:3.0f}%"


class TerminalProgress:
    """Callable event sink: ``TerminalProgress()(event)``."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self._last_draw = 0.0
        self._line_open = False
        self._epochs: dict[int, int] = {}

    # -- drawing ---------------------------------------------------------------
    def _draw(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        self.stream.write("\r" + text.ljust(78)[:120])
        self.stream.flush()
        self._line_open = True

    def line(self, text: str) -> None:
        """Print a full line, closing any open bar first."""
        if self.quiet:
            return
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False

    def scan_progress(self, done: int, total: int) -> None:
        if not self.quiet:
            self._draw(f"Scanning images {bar(done, total)} {done}/{total}", force=done >= total)

    # -- events ------------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        if self.quiet:
            return
        if isinstance(event, ev.StageStarted):
            self._epochs[event.stage] = event.epochs
            what = "training the head" if event.stage == 1 else "fine-tuning"
            cache = ", cached features" if event.cached_features else ""
            self.line(f"Stage {event.stage}: {what} for {event.epochs} epoch(s), "
                      f"{event.trainable_params:,} trainable parameters{cache}")
        elif isinstance(event, ev.FeatureExtractionProgress):
            self._draw(f"Extracting features {bar(event.done, event.total)} {event.done}/{event.total} "
                       f"{event.images_per_second:.0f} img/s ETA {format_seconds(event.eta_seconds)}",
                       force=event.done >= event.total)
        elif isinstance(event, ev.BatchProgress):
            epochs = self._epochs.get(event.stage, 0)
            of = f"/{epochs}" if epochs else ""
            self._draw(f"Epoch {event.epoch}{of} {bar(event.batch, event.batches)} loss {event.loss:.4f} "
                       f"{event.images_per_second:.0f} img/s ETA {format_seconds(event.eta_seconds)}",
                       force=event.batch >= event.batches)
        elif isinstance(event, ev.EpochEnded):
            epochs = self._epochs.get(event.stage, 0)
            of = f"/{epochs}" if epochs else ""
            self.line(f"Epoch {event.epoch}{of}: loss {event.train_loss:.4f} acc {event.train_acc:.3f} | "
                      f"val loss {event.val_loss:.4f} val acc {event.val_acc:.3f} | lr {event.lr:.2g} | "
                      f"{event.seconds:.1f} s")
        elif isinstance(event, ev.RunFinished):
            state = "Stopped" if event.cancelled else "Finished"
            self.line(f"{state}: best val accuracy {event.best_val_acc:.3f} after {event.epochs_run} epoch(s) "
                      f"in {format_seconds(event.seconds)}")
        elif isinstance(event, ev.RunFailed):
            self.close()
