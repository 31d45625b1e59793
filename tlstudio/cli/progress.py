"""Terminal progress for the CLI: a one-line bar on stderr redrawn with "\\r".

Fed by the trainer's events through ``events.dispatch`` (as the GUI is) and
by scans through a ``JobState``. Redraws go through ``core.progress.Throttle``
so a fast loop does not spend its time writing to the terminal.
"""
from __future__ import annotations

import sys
from typing import TextIO

from tlstudio.core.progress import Throttle, JobState
from tlstudio.core import events as ev
from tlstudio.core.headsearch.curves import describe_search

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
        self.rate_unit = "img/s"      # "texts/s" on a text run
        self._redraw = Throttle(REDRAW_SECONDS)
        self._line_open = False
        self._epochs: dict[int, int] = {}
        self._scan: JobState | None = None

    # -- drawing ---------------------------------------------------------------
    def _draw(self, text: str, force: bool = False) -> None:
        if not self._redraw.due(final=force):
            return
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
            phase = (self._scan.phase if self._scan is not None else "") or "Scanning images"
            self._draw(f"{phase[:1].upper()}{phase[1:]} {bar(done, total)} {done}/{total}", force=done >= total)

    def scan_job(self) -> JobState:
        """A JobState whose progress draws a bar named by its ``phase`` (default "Scanning images"); the
        bar throttles its own redraws."""
        self._scan = JobState(self.scan_progress, interval=0.0)
        return self._scan

    # -- events ------------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        if not self.quiet:
            ev.dispatch(self, event)

    def _of(self, stage: int) -> str:
        epochs = self._epochs.get(stage, 0)
        return f"/{epochs}" if epochs else ""

    def on_stage_started(self, event: ev.StageStarted) -> None:
        self._epochs[event.stage] = event.epochs
        if event.stage == 1 and event.epochs == 0:
            cache = ", cached features" if event.cached_features else ""
            self.line(f"Stage 1: fitting the head by search{cache}")
            return
        what = "training the head" if event.stage == 1 else "fine-tuning"
        cache = ", cached features" if event.cached_features else ""
        self.line(f"Stage {event.stage}: {what} for {event.epochs} epoch(s), "
                  f"{event.trainable_params:,} trainable parameters{cache}")

    def on_run_note(self, event: ev.RunNote) -> None:
        self.line(f"Note: {event.message}")

    def on_few_label_decision(self, event: ev.FewLabelDecision) -> None:
        self.line(event.message)

    def on_feature_extraction_progress(self, event: ev.FeatureExtractionProgress) -> None:
        self._draw(f"Extracting features {bar(event.done, event.total)} {event.done}/{event.total} "
                   f"{event.images_per_second:.0f} {self.rate_unit} ETA {format_seconds(event.eta_seconds)}",
                   force=event.done >= event.total)

    def on_base_tuning_progress(self, event: ev.BaseTuningProgress) -> None:
        self._draw(f"Contrastive tuning (few labels) {bar(event.step, event.steps)} step {event.step}/{event.steps} "
                   f"loss {event.loss:.4f} ETA {format_seconds(event.eta_seconds)}", force=event.step >= event.steps)

    def on_batch_progress(self, event: ev.BatchProgress) -> None:
        self._draw(f"Epoch {event.epoch}{self._of(event.stage)} {bar(event.batch, event.batches)} "
                   f"loss {event.loss:.4f} {event.images_per_second:.0f} {self.rate_unit} "
                   f"ETA {format_seconds(event.eta_seconds)}", force=event.batch >= event.batches)

    def on_epoch_ended(self, event: ev.EpochEnded) -> None:
        self.line(f"Epoch {event.epoch}{self._of(event.stage)}: loss {event.train_loss:.4f} "
                  f"acc {event.train_acc:.3f} | val loss {event.val_loss:.4f} val acc {event.val_acc:.3f} | "
                  f"lr {event.lr:.2g} | {event.seconds:.1f} s")

    # The head search: one bar over its candidates (and the winner's refit), with the best score so far.
    def on_head_search_started(self, event: ev.HeadSearchStarted) -> None:
        self._search = {"total": event.candidates, "done": 0, "best": None, "eta": float("nan"), "epoch": 0}
        self.line(f"Head search: {event.candidates} candidates, {event.method} on {event.samples} samples")

    def _search_bar(self, force: bool = False) -> None:
        s = self._search
        best = f" best {s['best']:.3f}" if s["best"] is not None else ""
        eta = f" ETA {format_seconds(s['eta'])}" if s["eta"] == s["eta"] else ""
        self._draw(f"Head search {bar(s['done'], s['total'])} {s['done']}/{s['total']} candidates "
                   f"(epoch {s['epoch']}){best}{eta}", force=force)

    def on_head_search_trial(self, event: ev.HeadSearchTrial) -> None:
        s = getattr(self, "_search", None)
        if s is None or not event.finished:
            return
        s["done"], s["eta"] = event.done, event.eta_seconds
        s["best"] = max(s["best"] or 0.0, event.cv_acc)
        self._search_bar(force=event.done >= s["total"])

    def on_head_search_epoch(self, event: ev.HeadSearchEpoch) -> None:
        s = getattr(self, "_search", None)
        if s is not None:
            s["epoch"] = max(s["epoch"], event.epoch) if event.epoch > 1 else event.epoch
            self._search_bar()

    def on_head_refit_epoch(self, event: ev.HeadRefitEpoch) -> None:
        self._draw(f"Refit of the winner {bar(event.epoch, event.epochs)} epoch {event.epoch}/{event.epochs}",
                   force=event.epoch >= event.epochs)

    def on_head_search_finished(self, event: ev.HeadSearchFinished) -> None:
        self._searched = event.search
        for text in event.table.splitlines():
            self.line(text)

    def on_run_finished(self, event: ev.RunFinished) -> None:
        state = "Stopped" if event.cancelled else "Finished"
        search = getattr(self, "_searched", None)
        if search is not None and event.epochs_run == 0:
            self.line(f"{state}: {describe_search(search)} (whole run {format_seconds(event.seconds)})")
            return
        self.line(f"{state}: best val accuracy {event.best_val_acc:.3f} after {event.epochs_run} epoch(s) "
                  f"in {format_seconds(event.seconds)}")

    def on_run_failed(self, event: ev.RunFailed) -> None:
        self.close()
