"""The Head tab: design the new classifier that replaces the network's own.

Edits go straight into ``project.head`` (a core ``HeadSpec``) and are
announced with ``mark_changed("head")``; the Model panel then rebuilds the
loaded model's head (in a worker). This tab builds no torch modules: the
spec is validated and its parameters counted from the spec alone. The output layer is not editable: it always has one unit
per class of the dataset.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QSpinBox, QStackedWidget,
                               QVBoxLayout, QWidget)

from tlstudio.core.errors import HeadSpecError
from tlstudio.core.model.head import HeadLayer

from tlstudio.gui.icons import icon
from tlstudio.gui.state import ProjectState
from tlstudio.gui.views import task_words

# (type, menu text, defaults) in the order the "Add" menu offers them.
LAYER_CHOICES = (
    ("linear", "Linear (dense)", {"width": 256}),
    ("activation", "Activation", {"activation": "relu"}),
    ("dropout", "Dropout", {"p": 0.2}),
    ("batchnorm", "BatchNorm", {}),
    ("layernorm", "LayerNorm", {}),
)
ACTIVATION_NAMES = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU"}
MAX_DROPOUT = 0.95


def short_name(layer: HeadLayer) -> str:
    if layer.type == "linear":
        return f"Linear({layer.width})"
    if layer.type == "activation":
        return ACTIVATION_NAMES.get(str(layer.activation).lower(), str(layer.activation))
    if layer.type == "dropout":
        return f"Dropout({layer.p:g})"
    return {"batchnorm": "BatchNorm", "layernorm": "LayerNorm"}.get(layer.type, layer.type)


class HeadDesigner(QWidget):
    def __init__(self, state: ProjectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("headDesigner")
        self.state = state
        self._updating = False
        self._build_ui()
        state.projectReplaced.connect(self.refresh)
        state.modelChanged.connect(self._update_summary)
        state.datasetChanged.connect(self._update_summary)
        state.changed.connect(lambda section: section == "head" and self.refresh())
        state.changed.connect(lambda section: section == "training" and self._update_fit_note())
        self.refresh()

    # -- layout --------------------------------------------------------------------
    def _build_ui(self) -> None:
        layers_box = QGroupBox("Hidden layers (applied in order to the base's features)")
        self.layer_list = QListWidget(objectName="headLayerList")
        self.add_type = QComboBox()
        for kind, text, _ in LAYER_CHOICES:
            self.add_type.addItem(text, kind)
        self.add_button = QPushButton(icon("add"), "Add")
        self.remove_button = QPushButton(icon("remove"), "Remove")
        self.up_button = QPushButton(icon("up"), "Up")
        self.down_button = QPushButton(icon("down"), "Down")
        row = QHBoxLayout()
        row.addWidget(self.add_type)
        row.addWidget(self.add_button)
        row.addStretch(1)
        for b in (self.remove_button, self.up_button, self.down_button):
            row.addWidget(b)
        box = QVBoxLayout(layers_box)
        box.addWidget(self.layer_list, 1)
        box.addLayout(row)
        self.output_label = QLabel(objectName="headOutput", wordWrap=True)
        box.addWidget(self.output_label)
        # Who decides the head: the automatic search (shown: what the last run chose) or the user's design.
        self.fit_note = QLabel(objectName="headFitNote", wordWrap=True)
        self.auto_button = QPushButton("↺ Let the search choose", objectName="headBackToAuto")
        self.auto_button.setToolTip("Forget this design: Automatic head fitting chooses the head again.")
        self.auto_button.clicked.connect(self._back_to_auto)
        note_row = QHBoxLayout()
        note_row.addWidget(self.fit_note, 1)
        note_row.addWidget(self.auto_button)
        box.addLayout(note_row)

        editor_box = QGroupBox("Selected layer")
        self.editor = QStackedWidget()
        # No keyboard tracking: typing "4096" is one edit, not four (each edit rebuilds the model's head).
        self.width_spin = QSpinBox(minimum=1, maximum=16384, singleStep=32, keyboardTracking=False)
        self.activation_combo = QComboBox()
        for key, text in ACTIVATION_NAMES.items():
            self.activation_combo.addItem(text, key)
        self.dropout_spin = QDoubleSpinBox(minimum=0.0, maximum=MAX_DROPOUT, singleStep=0.05, decimals=2)
        for label, widget in (("Units:", self.width_spin), ("Function:", self.activation_combo),
                              ("Drop probability:", self.dropout_spin)):
            page = QWidget()
            form = QFormLayout(page)
            form.addRow(label, widget)
            self.editor.addWidget(page)
        self.editor.addWidget(QLabel("This layer has no settings: it normalises the features it receives.",
                                     wordWrap=True))
        self.editor.addWidget(QLabel("Select a layer to edit it.", wordWrap=True))
        ebox = QVBoxLayout(editor_box)
        ebox.addWidget(self.editor)
        ebox.addStretch(1)

        summary_box = QGroupBox("Resulting head")
        self.diagram = QLabel(objectName="headDiagram", wordWrap=True)
        self.diagram.setStyleSheet("font-size: 15px; padding: 6px;")
        self.diagram.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.param_label = QLabel(objectName="headParamCount", wordWrap=True)
        self.param_label.setStyleSheet("font-size: 14px;")
        self.error_label = QLabel(objectName="headError", wordWrap=True)
        self.error_label.setStyleSheet("color: #b03a2e;")
        sbox = QVBoxLayout(summary_box)
        sbox.addWidget(self.diagram)
        sbox.addWidget(self.param_label)
        sbox.addWidget(self.error_label)
        sbox.addStretch(1)

        right = QVBoxLayout()
        right.addWidget(editor_box)
        right.addWidget(summary_box, 1)
        layout = QHBoxLayout(self)
        layout.addWidget(layers_box, 3)
        layout.addLayout(right, 2)

        self.add_button.clicked.connect(lambda: self.add_layer(self.add_type.currentData()))
        self.remove_button.clicked.connect(lambda: self.remove_layer(self.layer_list.currentRow()))
        self.up_button.clicked.connect(lambda: self.move_layer(self.layer_list.currentRow(), -1))
        self.down_button.clicked.connect(lambda: self.move_layer(self.layer_list.currentRow(), +1))
        self.layer_list.currentRowChanged.connect(self._show_editor)
        self.width_spin.valueChanged.connect(lambda v: self._edit("width", int(v)))
        self.activation_combo.currentIndexChanged.connect(
            lambda _i: self._edit("activation", self.activation_combo.currentData()))
        self.dropout_spin.valueChanged.connect(lambda v: self._edit("p", round(float(v), 4)))

    # -- editing -------------------------------------------------------------------------
    @property
    def layers(self) -> list[HeadLayer]:
        return self.state.project.head.layers

    def add_layer(self, kind: str, **settings) -> None:
        """Insert a layer after the selected one (or at the end)."""
        defaults = next(d for k, _, d in LAYER_CHOICES if k == kind)
        layer = HeadLayer(kind, **{**defaults, **settings})
        row = self.layer_list.currentRow()
        at = row + 1 if row >= 0 else len(self.layers)
        self.layers.insert(at, layer)
        self._commit(select=at)

    def remove_layer(self, row: int) -> None:
        if 0 <= row < len(self.layers):
            del self.layers[row]
            self._commit(select=min(row, len(self.layers) - 1))

    def move_layer(self, row: int, delta: int) -> None:
        target = row + delta
        if 0 <= row < len(self.layers) and 0 <= target < len(self.layers):
            self.layers[row], self.layers[target] = self.layers[target], self.layers[row]
            self._commit(select=target)

    def _edit(self, attr: str, value) -> None:
        row = self.layer_list.currentRow()
        if self._updating or not 0 <= row < len(self.layers):
            return
        layer = self.layers[row]
        if getattr(layer, attr) == value:
            return
        setattr(layer, attr, value)
        self._commit(select=row)

    def _commit(self, select: int) -> None:
        self.state.project.training.set_explicit("head")    # a designed head: the head search keeps it
        self.state.mark_changed("head")   # refresh() runs from the changed signal
        self.layer_list.setCurrentRow(select)

    def _back_to_auto(self) -> None:
        self.state.project.training.set_auto("head")
        self.state.mark_changed("training")

    # -- display -----------------------------------------------------------------------------
    def _update_fit_note(self) -> None:
        t = self.state.project.training
        automatic = t.head_fit == "search"
        if not automatic:
            text = "Fixed epochs (Train tab) trains this head as designed."
        elif "head" in t.auto:
            text = ("<b>Chosen by the search.</b> Automatic head fitting (Train tab) picks the head: linear, or one "
                    "hidden layer of 128 units; shown is the head the last run trained. Editing the layers pins "
                    "your design.")
        else:
            text = "<b>📌 Your design, pinned:</b> the automatic search trains this head and chooses the rest."
        self.fit_note.setText(text)
        self.auto_button.setVisible(automatic and "head" not in t.auto)

    def refresh(self) -> None:
        self._updating = True
        row = self.layer_list.currentRow()
        self.layer_list.clear()
        for i, layer in enumerate(self.layers, start=1):
            item = QListWidgetItem(icon("head"), f"{i}.  {short_name(layer)}")
            self.layer_list.addItem(item)
        self._updating = False
        self.layer_list.setCurrentRow(min(max(row, 0), len(self.layers) - 1))
        self._show_editor(self.layer_list.currentRow())
        self._update_summary()
        self._update_fit_note()

    def _show_editor(self, row: int) -> None:
        has = 0 <= row < len(self.layers)
        self.remove_button.setEnabled(has)
        self.up_button.setEnabled(has and row > 0)
        self.down_button.setEnabled(has and row < len(self.layers) - 1)
        if not has:
            self.editor.setCurrentIndex(4)
            return
        layer = self.layers[row]
        self._updating = True
        if layer.type == "linear":
            self.width_spin.setValue(int(layer.width or 1))
            self.editor.setCurrentIndex(0)
        elif layer.type == "activation":
            self.activation_combo.setCurrentIndex(max(0, self.activation_combo.findData(str(layer.activation).lower())))
            self.editor.setCurrentIndex(1)
        elif layer.type == "dropout":
            self.dropout_spin.setValue(float(layer.p or 0.0))
            self.editor.setCurrentIndex(2)
        else:
            self.editor.setCurrentIndex(3)
        self._updating = False

    def feature_dim(self) -> int | None:
        model = self.state.model
        return int(model.feature_dim) if model is not None else None

    def _update_summary(self) -> None:
        n = self.state.num_classes()
        spec = self.state.project.head
        source = "set by the dataset" if self.state.dataset is not None else "open a dataset to set it"
        words = task_words(self.state)
        self.output_label.setText(words.output.format(n=n, source=source))
        dim = self.feature_dim()
        parts = [str(dim) if dim is not None else "features"] + [short_name(layer) for layer in spec.layers]
        self.diagram.setText(" → ".join(parts + [f"Linear({n})"] + ([words.activation] if words.activation else [])))
        try:
            spec.validate(n)
        except HeadSpecError as exc:
            self.error_label.setText(str(exc))
            self.param_label.setText("Head parameters: —")
            return
        self.error_label.setText("")
        if dim is None:
            self.param_label.setText("Head parameters: load a model to count them (they depend on its feature width)")
        else:
            self.param_label.setText(f"Head parameters: <b>{spec.param_count(dim, n):,}</b>")
