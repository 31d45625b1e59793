"""How the Train tab shows a run while its events arrive: progress bar, speed line, curves, the head
search's table and the log.

``TrainingEventHandlers`` holds one ``on_<event>`` method per trainer event (``events.dispatch`` finds
them by name, as the CLI's printer's). It is mixed into ``TrainingPanel``, whose widgets it updates:
``progress``, ``speed_label``, ``charts``, ``search_table``, ``settings``, ``log()`` and ``state``, and
whose per-run fields it keeps (``_curves``, ``_search_report``, ``_stage_epochs``, ``_checkpoints``,
``_finished_event``). Starting, stopping and recording a run stay in the panel.
"""
from __future__ import annotations

from tlstudio.core import events as ev
from tlstudio.core.headsearch.curves import SearchCurves, describe_search
from tlstudio.gui.widgets.settings_widgets import format_eta


class TrainingEventHandlers:
    """The Train tab's reactions to a run's events (GUI thread)."""

    def on_batch_progress(self, event: ev.BatchProgress) -> None:
        epochs = self._stage_epochs.get(event.stage, event.epoch)
        total = max(1, epochs * event.batches)
        self.progress.setRange(0, total)
        self.progress.setValue(min(total, (event.epoch - 1) * event.batches + event.batch))
        self.progress.setFormat(f"Stage {event.stage} · epoch {event.epoch}/{epochs} · %p%")
        self.speed_label.setText(f"batch {event.batch}/{event.batches} · loss {event.loss:.4f} · "
                                 f"{event.images_per_second:.0f} images/s · ETA {format_eta(event.eta_seconds)}")

    def on_feature_extraction_progress(self, event: ev.FeatureExtractionProgress) -> None:
        self.progress.setRange(0, max(1, event.total))
        self.progress.setValue(event.done)
        self.progress.setFormat("Extracting features %v/%m")
        self.speed_label.setText(f"{event.images_per_second:.0f} images/s · "
                                 f"ETA {format_eta(event.eta_seconds)}")

    def on_few_label_decision(self, event: ev.FewLabelDecision) -> None:
        self.log(event.message)
        self.speed_label.setText(event.message)
        self.settings.show_few_label_decision(event.message)

    def on_run_note(self, event: ev.RunNote) -> None:
        self.log(event.message)

    def on_base_tuning_progress(self, event: ev.BaseTuningProgress) -> None:
        self.progress.setRange(0, max(1, event.steps))
        self.progress.setValue(event.step)
        self.progress.setFormat("Few labels: tuning the encoder %v/%m")
        self.speed_label.setText(f"pair loss {event.loss:.4f} · ETA {format_eta(event.eta_seconds)}")

    # The head search: curves, table and progress from its events.
    def on_head_search_started(self, event: ev.HeadSearchStarted) -> None:
        self.charts.reset()
        self._curves = SearchCurves()
        self._curves.on_head_search_started(event)
        self.charts.search.show(self._curves)
        self.search_table.begin(event.candidates, event.folds)
        self.progress.setRange(0, event.candidates + 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"Head search · %v/{event.candidates} candidates")
        how = f"{event.folds}-fold cross-validation" if event.folds > 1 else "the validation split"
        self.speed_label.setText(f"Trying {event.candidates} candidate heads, scored by {how} on "
                                 f"{event.samples} samples…")
        self.log(f"Head search: {event.candidates} candidates, {event.method} on {event.samples} labelled samples.")

    def on_head_search_trial(self, event: ev.HeadSearchTrial) -> None:
        if self._curves is not None:
            self._curves.on_head_search_trial(event)
        self.search_table.trial(event)
        if event.finished:
            self.progress.setValue(event.done)
            self.speed_label.setText(f"{event.done}/{event.candidates} candidates scored · "
                                     f"ETA {format_eta(event.eta_seconds)}")

    def on_head_search_epoch(self, event: ev.HeadSearchEpoch) -> None:
        if self._curves is not None:
            self._curves.on_head_search_epoch(event)
            self.charts.search.changed()

    def on_head_refit_epoch(self, event: ev.HeadRefitEpoch) -> None:
        if self._curves is not None:
            self._curves.on_head_refit_epoch(event)
        if event.epoch == 1 or event.epoch == event.epochs:
            self.progress.setFormat(f"Refit of the winner · epoch {event.epoch}/{event.epochs}")
            self.speed_label.setText("Training the winner on all labelled samples…")

    def on_head_search_finished(self, event: ev.HeadSearchFinished) -> None:
        search = event.search
        if self._curves is not None:
            self._curves.on_head_search_finished(event)
            self.charts.search.changed(now=True)
        self.progress.setValue(self.progress.maximum())
        self.search_table.finished(search)
        for line in event.table.splitlines():
            self.log(line)
        self._search_report = search
        self.settings.set_chosen(search["winner"])
        self._show_chosen_head(search["winner"].get("head_spec"))

    def _show_chosen_head(self, spec: dict | None) -> None:
        """The head the search chose becomes the project's head (still left to the search), so the Head
        and Model tabs show the head that was trained."""
        from tlstudio.core.model.head import HeadSpec

        project = self.state.project
        if spec is None or "head" not in project.training.auto:
            return
        chosen = HeadSpec.from_dict(spec)
        if chosen.layers != project.head.layers:
            project.head.layers = list(chosen.layers)
            self.state.mark_changed("head")

    def on_epoch_ended(self, event: ev.EpochEnded) -> None:
        self.charts.epoch_ended(event)
        epochs = self._stage_epochs.get(event.stage, event.epoch)
        self.log(f"Stage {event.stage} epoch {event.epoch}/{epochs}: train loss {event.train_loss:.4f}, "
                 f"train acc {event.train_acc:.1%}, val loss {event.val_loss:.4f}, "
                 f"val acc {event.val_acc:.1%}, lr {event.lr:.2g} ({event.seconds:.1f} s)")

    def on_stage_started(self, event: ev.StageStarted) -> None:
        cache = ", on cached base features" if event.cached_features else ""
        if event.stage == 1 and event.epochs == 0:       # the head search follows (its own events)
            self.log(f"Stage 1: fitting the head automatically, {event.trainable_params:,} parameters{cache}.")
            return
        if self._curves is not None and event.stage > 1:     # fine-tuning after a search: its own curves
            self.charts.reset()
            self._curves = None
        self._stage_epochs[event.stage] = event.epochs
        self.charts.stage_started(event.stage, event.epochs)
        what = "training the head" if event.stage == 1 else "fine-tuning"
        self.log(f"Stage {event.stage}: {what} for {event.epochs} epochs, "
                 f"{event.trainable_params:,} trainable parameters{cache}.")

    def on_checkpoint_saved(self, event: ev.CheckpointSaved) -> None:
        self._checkpoints += 1
        self.log(f"Saved the best model so far (stage {event.stage} epoch {event.epoch}, "
                 f"val acc {event.val_acc:.1%}).")

    def on_run_finished(self, event: ev.RunFinished) -> None:
        self._finished_event = event
        self.log(finish_line(event, self._search_report))


def finish_line(event: ev.RunFinished, search: dict | None) -> str:
    """What happened, in one line: the search's choice and honest score, or the epoch loop's best."""
    how = "Stopped" if event.cancelled else "Finished"
    if search is None:
        return (f"{how}: best validation accuracy {event.best_val_acc:.1%} after {event.epochs_run} epochs "
                f"in {event.seconds:.1f} s.")
    tuned = f"; then {event.epochs_run} fine-tuning epochs" if event.epochs_run else ""
    return f"{how}: {describe_search(search)}{tuned} (whole run {event.seconds:.1f} s)."
