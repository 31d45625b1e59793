"""The Train tab's settings form, bound to ``state.project.training`` / ``.finetune``.

An edit writes the field and calls ``mark_changed``. "Head fitting" chooses between the automatic
head search and the plain epoch loop. In Automatic mode the fields the search chooses (learning
rate, weight decay, epochs) show "auto" until a run chose them, then the chosen value marked
"chosen"; a value the user types is pinned (marked "pinned", with a button back to auto) and the
search keeps it. Settings only the epoch loop uses are disabled in Automatic mode, saying why.
Every setting has a plain-words tooltip.
"""
from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QToolButton,
                               QVBoxLayout, QWidget)

from tlstudio.core.data.modality import modality_for
from tlstudio.core.train.choices import OPTIMIZERS, SCHEDULES
from tlstudio.core.device import placeholder_devices
from tlstudio.gui.widgets.settings_widgets import SciSpinBox, double_spin, int_spin

# The searched fields: the value below the real minimum that shows "auto" in Automatic mode.
AUTO_SENTINELS = {"lr": 0.0, "weight_decay": -1.0, "epochs": 0}
REAL_MINIMUMS = {"lr": 1e-8, "weight_decay": 0.0, "epochs": 1}
EPOCH_LOOP_ONLY = ("optimizer", "schedule", "early_stopping_patience", "early_stopping_metric")
SEARCH_NOTE = "\n\nAutomatic head fitting uses its own settings; this applies to Fixed epochs and fine-tuning."
CHOSEN_STYLE = "QLabel { color: #1b6e20; font-weight: bold; }"
PINNED_STYLE = "QLabel { color: #0b4f9c; font-weight: bold; }"

TOOLTIPS = {
    ("training", "head_fit"): "Automatic search: the head's learning rate, weight decay, epochs and shape are "
                              "chosen by\ntrying a few candidates with 5-fold cross-validation on all labelled "
                              "samples (CV),\nthen the best is trained again on all of them. Needs a frozen base "
                              "and cached features.\nFixed epochs: train the head for the epochs and learning rate "
                              "you set, scored on the validation split.",
    ("training", "epochs"): "How many passes over the training data. In Automatic mode the search stops each\n"
                            "candidate when its held-out loss stops improving and uses that count.",
    ("training", "batch_size"): "How many samples the head sees per update. Larger is faster per epoch, smaller "
                                "gives more updates.",
    ("training", "optimizer"): "The method that updates the weights from the loss (AdamW is a safe default).",
    ("training", "lr"): "Learning rate: how big each update step is. Too high: the loss jumps around; "
                        "too low: it learns slowly.",
    ("training", "weight_decay"): "Weight decay (wd): pulls weights towards zero a little each step, which "
                                  "keeps the head simple\nand helps against overfitting on small datasets.",
    ("training", "schedule"): "How the learning rate changes over the epochs (cosine: slowly down to "
                              "almost zero).",
    ("training", "label_smoothing"): "Label smoothing: trains towards 90 % instead of 100 % certainty (at 0.1), "
                                     "so the model is less overconfident.\n0 = off.",
    ("training", "class_weighted"): "Rare classes count more in the loss, so the head does not ignore them.",
    ("training", "early_stopping_patience"): "Stop training when the chosen score has not improved for this many "
                                             "epochs (off = train all epochs).",
    ("training", "early_stopping_metric"): "Stop on: which validation score early stopping watches "
                                           "(and which epoch is kept as best).",
    ("training", "seed"): "The random seed: the same seed, data and settings give the same result.",
    ("finetune", "enabled"): "After the head, also train the last blocks of the pretrained base (slower; runs "
                             "the base on every image each epoch).",
    ("finetune", "epochs"): "How many epochs of fine-tuning after the head is trained.",
    ("finetune", "unfreeze_last"): "How many of the base's last blocks are trained during fine-tuning.",
    ("finetune", "lr_multiplier"): "LR multiplier: fine-tuning uses the head's learning rate times this "
                                   "(0.1 = ten times smaller),\nso the pretrained weights change only a little.",
    ("finetune", "train_batchnorm"): "Off (recommended for small datasets): BatchNorm layers keep their "
                                     "pretrained\nrunning statistics while their weights are fine-tuned.",
    ("training", "device"): "Where training runs: a GPU (CUDA or Apple) when there is one, else the CPU.",
    ("training", "use_cache"): "With a frozen base, compute its output once per sample and train the head on "
                               "those stored features\n(much faster). Automatic head fitting needs it.",
    ("training", "cache_views"): "Cached views: how many randomly augmented copies of each training image are "
                                 "stored\n(more views = more variety for the head, more extraction time).",
    ("training", "amp"): "Mixed precision: faster and lighter on a GPU by computing in 16-bit where safe; "
                         "no effect on the CPU.",
    ("training", "channels_last"): "A memory layout that makes convolutions faster on most GPUs; harmless "
                                   "elsewhere.",
}


class AutoMark(QWidget):
    """The mark beside a searched field: "auto" / "chosen" / "pinned", and a button back to auto."""

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.badge = QLabel()
        self.reset = QToolButton()
        self.reset.setText("↺ auto")
        self.reset.setToolTip("Leave this value to the automatic search again.")
        row.addWidget(self.badge)
        row.addWidget(self.reset)

    def show_state(self, state: str) -> None:
        """"" (Fixed epochs), "auto", "chosen" or "pinned"."""
        texts = {"chosen": ("✓ chosen", CHOSEN_STYLE, "The last run's search chose this value. Type a value "
                                                      "to pin your own."),
                 "pinned": ("📌 pinned", PINNED_STYLE, "You set this value: the search keeps it.")}
        text, style, tip = texts.get(state, ("", "", ""))
        self.badge.setText(text)
        self.badge.setStyleSheet(style)
        self.badge.setToolTip(tip)
        self.reset.setVisible(state == "pinned")
        self.setVisible(bool(text))


class TrainingSettingsForm(QWidget):
    """The bound settings. ``headFitChanged`` when Automatic / Fixed epochs switches."""

    headFitChanged = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self._bindings: list[tuple[str, str, QWidget]] = []
        self.marks: dict[str, AutoMark] = {}
        self.chosen: dict = {}          # field -> value the last search run chose
        self._loading = False
        self._build()

    def _build(self) -> None:
        fitting = QGroupBox("Head fitting")
        form = QFormLayout(fitting)
        self.head_fit_combo = self._combo([("search", "Automatic search"), ("epochs", "Fixed epochs")])
        self._add(form, "Fit the head by", "training", "head_fit", self.head_fit_combo)
        self.fit_note = QLabel()
        self.fit_note.setObjectName("headFitNote")
        self.fit_note.setWordWrap(True)
        self.fit_note.setStyleSheet("QLabel { color: #555555; }")
        form.addRow(self.fit_note)
        # The choices and their wording are the modality's (reload fills them in for the project's task).
        self.few_label_combo = self._combo([])
        self._add(form, "Few labels", "training", "few_shot", self.few_label_combo)
        self.few_label_label = form.labelForField(self.few_label_combo)
        self.few_label_note = QLabel()
        self.few_label_note.setObjectName("fewLabelNote")
        self.few_label_note.setWordWrap(True)
        self.few_label_note.setStyleSheet("QLabel { color: #555555; }")
        form.addRow(self.few_label_note)
        self.few_label_decision = ""      # what the last run's few-label stage did, and why

        head = QGroupBox("Stage 1 · train the head")
        form = QFormLayout(head)
        self._add(form, "Epochs", "training", "epochs", int_spin(0, 10000), auto=True)
        self._add(form, "Batch size", "training", "batch_size", int_spin(1, 8192))
        self._add(form, "Optimizer", "training", "optimizer", self._combo([(o, o) for o in OPTIMIZERS]))
        self._add(form, "Learning rate", "training", "lr", SciSpinBox(0.0, 10.0), auto=True)
        self._add(form, "Weight decay", "training", "weight_decay", SciSpinBox(-1.0, 1.0), auto=True)
        self._add(form, "Schedule", "training", "schedule", self._combo([(s, s) for s in SCHEDULES]))
        self._add(form, "Label smoothing", "training", "label_smoothing", double_spin(0.0, 0.5, 0.05, 2))
        self._add(form, "", "training", "class_weighted", QCheckBox("Weight classes by rarity"))
        self._add(form, "Early stopping", "training", "early_stopping_patience",
                  int_spin(0, 1000, special="off", suffix=" epochs"))
        self._add(form, "Stop on", "training", "early_stopping_metric",
                  self._combo([("val_acc", "validation accuracy"), ("val_loss", "validation loss")]))
        self._add(form, "Seed", "training", "seed", int_spin(0, 2**31 - 1))

        fine = QGroupBox("Stage 2 · fine-tune")
        form = QFormLayout(fine)
        self._add(form, "", "finetune", "enabled", QCheckBox("Fine-tune after the head"))
        self._add(form, "Epochs", "finetune", "epochs", int_spin(1, 10000))
        self._add(form, "Unfreeze last", "finetune", "unfreeze_last", int_spin(1, 100, suffix=" block(s)"))
        self._add(form, "LR multiplier", "finetune", "lr_multiplier", SciSpinBox(1e-6, 10.0))
        self._add(form, "", "finetune", "train_batchnorm", QCheckBox("Update BatchNorm statistics"))

        hardware = QGroupBox("Hardware")
        form = QFormLayout(hardware)
        self.device_combo = self._combo(placeholder_devices())
        self.device_combo.setObjectName("deviceCombo")
        self._add(form, "Device", "training", "device", self.device_combo)
        self._add(form, "", "training", "use_cache", QCheckBox("Cache base features (frozen base)"))
        self._add(form, "Cached views", "training", "cache_views", int_spin(1, 32))
        self._add(form, "", "training", "amp", QCheckBox("Mixed precision (GPU)"))
        self._add(form, "", "training", "channels_last", QCheckBox("Channels-last memory"))

        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        for box in (fitting, head, fine, hardware):
            col.addWidget(box)
        col.addStretch(1)

    def _combo(self, items: list[tuple[str, str]]) -> QComboBox:
        combo = QComboBox()
        for value, label in items:
            combo.addItem(label, value)
        return combo

    def _add(self, form: QFormLayout, label: str, section: str, field: str, widget: QWidget,
             auto: bool = False) -> None:
        widget.setObjectName(f"{section}_{field}")
        widget.setToolTip(TOOLTIPS.get((section, field), ""))
        shown = widget
        if auto:
            mark = self.marks[field] = AutoMark()
            mark.setObjectName(f"autoMark_{field}")
            mark.reset.clicked.connect(lambda _c=False, f=field: self.back_to_auto(f))
            shown = QWidget()
            row = QHBoxLayout(shown)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(widget, 1)
            row.addWidget(mark)
        form.addRow(label, shown) if label else form.addRow(shown)
        if label:
            form.labelForField(shown).setToolTip(widget.toolTip())
        self._bindings.append((section, field, widget))
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(lambda v, s=section, f=field: self._write(s, f, bool(v)))
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(
                lambda _i, s=section, f=field, w=widget: self._write(s, f, w.currentData()))
        else:
            widget.valueChanged.connect(lambda v, s=section, f=field: self._write(s, f, v))

    def widgets(self) -> list[QWidget]:
        """The bound widgets in form order (the tab order)."""
        return [w for _s, _f, w in self._bindings]

    def widget_for(self, section: str, field: str) -> QWidget:
        for s, f, w in self._bindings:
            if (s, f) == (section, field):
                return w
        raise KeyError(f"{section}.{field}")

    def automatic(self) -> bool:
        """The search fits the head: chosen, and possible (it runs on cached features)."""
        t = self.state.project.training
        return t.head_fit == "search" and t.use_cache

    # -- binding -------------------------------------------------------------------------
    def _write(self, section: str, field: str, value) -> None:
        if self._loading or value is None:
            return
        target = getattr(self.state.project, section)
        if section == "training" and field in AUTO_SENTINELS:
            if self.automatic() and value == AUTO_SENTINELS[field]:
                self.back_to_auto(field)
                return
            # Typing a value pins it, also when it equals the stored one (a text project shows
            # its own default learning rate, not the stored value).
            target.set_explicit(field)
        if getattr(target, field) != value or (section == "training" and field in AUTO_SENTINELS):
            setattr(target, field, value)
            self.state.mark_changed(section)
        if field in ("head_fit", "use_cache"):
            self.reload()
            self.headFitChanged.emit(value)
        elif field in self.marks:
            self._show_auto(field, self.widget_for("training", field))

    @Slot()
    def back_to_auto(self, field: str) -> None:
        self.state.project.training.set_auto(field)
        self.state.mark_changed("training")
        self.reload()

    def set_chosen(self, winner: dict | None) -> None:
        """The values the last search run chose (search.json's "winner"), or None to forget them."""
        self.chosen = {k: winner[k] for k in AUTO_SENTINELS if k in winner} if winner else {}
        self.reload()

    def show_few_label_decision(self, message: str) -> None:
        """The last run's few-label decision (a ``FewLabelDecision`` event's message), "" to forget it."""
        self.few_label_decision = message
        self._show_few_label_choices()

    def _show_few_label_choices(self) -> None:
        """The "Few labels" box in the project modality's words; disabled where it has nothing to tune."""
        modality = modality_for(self.state.project.task)
        combo = self.few_label_combo
        loading, self._loading = self._loading, True
        try:
            if [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())] != \
                    [tuple(c) for c in modality.few_label_choices]:
                combo.clear()
                for value, label in modality.few_label_choices:
                    combo.addItem(label, value)
        finally:
            self._loading = loading
        combo.setEnabled(bool(modality.few_label_tunings))
        combo.setToolTip(modality.few_label_help)
        self.few_label_label.setToolTip(modality.few_label_help)
        decided = self.few_label_decision.removeprefix("Few labels: ")
        note = f"Last run: {decided}" if decided else modality.few_label_summary
        self.few_label_note.setText(note)
        self.few_label_note.setVisible(bool(note))

    @Slot()
    def reload(self) -> None:
        """Show the project's values in the widgets (without writing them back)."""
        self._show_few_label_choices()
        self._loading = True
        try:
            for section, field, widget in self._bindings:
                if section == "training" and field in self.marks:
                    self._show_auto(field, widget)
                    continue
                value = getattr(getattr(self.state.project, section), field)
                if isinstance(widget, QCheckBox):
                    widget.setChecked(bool(value))
                elif isinstance(widget, QComboBox):
                    index = widget.findData(value)
                    if index < 0:           # keep an unknown value visible rather than changing it
                        widget.addItem(f"{value} (not available here)", value)
                        index = widget.count() - 1
                    widget.setCurrentIndex(index)
                else:
                    widget.setValue(value)
        finally:
            self._loading = False
        self.update_enabled()

    def _show_auto(self, field: str, widget) -> None:
        """A searched field: "auto", the chosen value or the pinned one (Automatic), else the value."""
        t = self.state.project
        loading, self._loading = self._loading, True
        try:
            value = t.epoch_lr() if field == "lr" else getattr(t.training, field)
            if not self.automatic():
                widget.setSpecialValueText("")
                widget.setMinimum(REAL_MINIMUMS[field])
                widget.setValue(value)
                self.marks[field].show_state("")
                return
            widget.setMinimum(AUTO_SENTINELS[field])
            widget.setSpecialValueText("auto")
            if field not in t.training.auto:
                widget.setValue(getattr(t.training, field))
                self.marks[field].show_state("pinned")
            elif field in self.chosen:
                widget.setValue(self.chosen[field])
                self.marks[field].show_state("chosen")
            else:
                widget.setValue(AUTO_SENTINELS[field])
                self.marks[field].show_state("auto")
        finally:
            self._loading = loading

    def update_enabled(self) -> None:
        automatic = self.automatic()
        on = self.state.project.finetune.enabled
        for section, field, widget in self._bindings:
            if section == "finetune" and field != "enabled":
                widget.setEnabled(on)
            if field in EPOCH_LOOP_ONLY:
                widget.setEnabled(not automatic)
                tip = TOOLTIPS[(section, field)]
                widget.setToolTip(tip + SEARCH_NOTE if automatic else tip)
        if self.state.project.training.head_fit == "search" and not automatic:
            self.fit_note.setText("Automatic search needs cached features (Hardware below): with the cache off "
                                  "the head trains for the fixed epochs and learning rate below.")
            return
        self.fit_note.setText(
            "The search tries a few candidate heads with 5-fold cross-validation on all labelled samples "
            "(the validation split above 3 000), then trains the best on all of them. "
            "Fields marked auto are chosen by it; type a value to pin it." if automatic else
            "The head trains for the epochs and learning rate below, scored on the validation split.")
