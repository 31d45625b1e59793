"""LayerTreeModel: a Qt item model over the core's layer tree.

The core ``LayerNode`` tree and the model's ``requires_grad`` flags are the
truth; this adapter only reads them. Column 0's check box maps onto
``set_trainable`` (Checked = trainable, Unchecked = frozen, PartiallyChecked =
partly frozen). After any change the node, its ancestors and its descendants
report dataChanged so every view repaints from the core state.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont

COLUMNS = ("Layer", "Type", "Output shape", "Parameters", "Trainable")
COL_NAME, COL_TYPE, COL_SHAPE, COL_PARAMS, COL_TRAINABLE = range(len(COLUMNS))

_CHECK = {"true": Qt.CheckState.Checked, "false": Qt.CheckState.Unchecked,
          "partial": Qt.CheckState.PartiallyChecked}
_TRAINABLE_TEXT = {"true": "yes", "false": "frozen", "partial": "partly"}


def format_count(n: int) -> str:
    """1234567 -> '1.23 M', 5300 -> '5.3 k'."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 10_000:
        return f"{n / 1e3:.1f} k"
    return f"{n:,}"


def head_subtree(model, head_spec, num_classes: int):
    """LayerNodes for ``model.head`` with shapes from the spec: no forward pass needed."""
    from tlstudio.core.model.layers import LayerNode

    widths = head_spec.widths(model.feature_dim) + [num_classes]
    head = model.head
    node = LayerNode(name="head", label="head", type=type(head).__name__,
                     own_params=sum(p.numel() for p in head.parameters(recurse=False)),
                     total_params=sum(p.numel() for p in head.parameters()),
                     output_shape=(num_classes,))
    for i, (cname, child) in enumerate(head.named_children()):
        shape = (widths[i],) if i < len(widths) else None
        total = sum(p.numel() for p in child.parameters())
        node.add_child(LayerNode(name=f"head.{cname}", label=cname, type=type(child).__name__,
                                 own_params=total, total_params=total, output_shape=shape))
    return node


class LayerTreeModel(QAbstractItemModel):
    """Rows are ``LayerNode``s; the (invisible) root is the TransferModel itself."""

    # Emitted after the user (or a preset) changed which layers are trainable.
    trainableChanged = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._model = None          # the torch TransferModel
        self._root = None           # its LayerNode tree

    # -- contents -----------------------------------------------------------
    def set_tree(self, model, root) -> None:
        self.beginResetModel()
        self._model, self._root = model, root
        self.endResetModel()

    def clear(self) -> None:
        self.set_tree(None, None)

    @property
    def torch_model(self):
        return self._model

    @property
    def root(self):
        return self._root

    def node(self, index: QModelIndex):
        if index.isValid():
            return index.internalPointer()
        return self._root

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        """The index of the node with this qualified name (invalid when absent)."""
        if self._root is None:
            return QModelIndex()
        found = self._root.find(name)
        if found is None or found is self._root:
            return QModelIndex()
        return self.createIndex(found.row(), column, found)

    def replace_head(self, new_head_node) -> None:
        """Swap the head subtree after the head was rebuilt (rows removed, then inserted)."""
        old = self._root.find("head") if self._root is not None else None
        if old is None:
            return
        head_index = self.createIndex(old.row(), 0, old)
        if old.children:
            self.beginRemoveRows(head_index, 0, len(old.children) - 1)
            old.children = []
            self.endRemoveRows()
        children = list(new_head_node.children)
        old.type, old.own_params = new_head_node.type, new_head_node.own_params
        old.total_params, old.output_shape = new_head_node.total_params, new_head_node.output_shape
        if children:
            self.beginInsertRows(head_index, 0, len(children) - 1)
            for child in children:
                old.add_child(child)
            self.endInsertRows()
        self.dataChanged.emit(head_index, self.createIndex(old.row(), len(COLUMNS) - 1, old))
        self._update_root_totals()

    def _update_root_totals(self) -> None:
        if self._root is not None and self._model is not None:
            self._root.total_params = sum(p.numel() for p in self._model.parameters())

    # -- structure ------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if self._root is None or not self.hasIndex(row, column, parent):
            return QModelIndex()
        child = self.node(parent).child(row)
        return self.createIndex(row, column, child) if child is not None else QModelIndex()

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node = index.internalPointer()
        up = node.parent
        if up is None or up is self._root:
            return QModelIndex()
        return self.createIndex(up.row(), 0, up)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if self._root is None or parent.column() > 0:
            return 0
        return len(self.node(parent).children)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    # -- data -------------------------------------------------------------------
    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        node = index.internalPointer()
        if node.removed:
            return Qt.ItemFlag.ItemIsSelectable  # shown, but not enabled and not checkable
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == COL_NAME and node.total_params > 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._model is None:
            return None
        node, col = index.internalPointer(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(node, col)
        if role == Qt.ItemDataRole.CheckStateRole and col == COL_NAME:
            if node.removed or node.total_params == 0:
                return None
            return _CHECK[node.trainable_state(self._model)]
        if role == Qt.ItemDataRole.ForegroundRole:
            if node.removed:
                return QBrush(QColor("#9a9a9a"))
            if col == COL_TRAINABLE and node.total_params:
                state = node.trainable_state(self._model)
                return QBrush(QColor({"true": "#1b7f3a", "false": "#5d6d7e", "partial": "#b9770e"}[state]))
        if role == Qt.ItemDataRole.FontRole:
            if node.removed:
                font = QFont()
                font.setStrikeOut(True)
                font.setItalic(True)
                return font
            if node.name == "head" and col == COL_NAME:
                font = QFont()
                font.setBold(True)
                return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_PARAMS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if node.removed:
                return "The network's original classifier, replaced by your new head."
            return node.name or None
        return None

    def _display(self, node, col: int) -> str | None:
        if col == COL_NAME:
            if node.removed:
                return f"{node.label} (removed)"
            if node.name == "head":
                return "head (new)"
            return node.label
        if col == COL_TYPE:
            return "original classifier" if node.removed else node.type
        if col == COL_SHAPE:
            return "×".join(str(s) for s in node.output_shape) if node.output_shape else ""
        if col == COL_PARAMS:
            return format_count(node.total_params) if node.total_params else ""
        if col == COL_TRAINABLE:
            if node.removed or not node.total_params:
                return ""
            return _TRAINABLE_TEXT[node.trainable_state(self._model)]
        return None

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if (role != Qt.ItemDataRole.CheckStateRole or not index.isValid()
                or not self.flags(index) & Qt.ItemFlag.ItemIsUserCheckable):
            return False
        from tlstudio.core.model.layers import set_trainable

        state = Qt.CheckState(value) if not isinstance(value, Qt.CheckState) else value
        node = index.internalPointer()
        # A click on a partly-checked box makes the whole subtree trainable.
        set_trainable(self._model, node.name, state != Qt.CheckState.Unchecked)
        self.refresh_node(node)
        self.trainableChanged.emit()
        return True

    # -- repaint after the core changed ----------------------------------------------
    def refresh_node(self, node) -> None:
        """dataChanged for the node's whole subtree and all its ancestors."""
        last = len(COLUMNS) - 1
        self._emit_subtree(node, last)
        up = node.parent
        while up is not None and up is not self._root:
            self.dataChanged.emit(self.createIndex(up.row(), 0, up), self.createIndex(up.row(), last, up))
            up = up.parent

    def _emit_subtree(self, node, last: int) -> None:
        if node is not self._root:
            self.dataChanged.emit(self.createIndex(node.row(), 0, node), self.createIndex(node.row(), last, node))
        if node.children:
            first, end = node.children[0], node.children[-1]
            self.dataChanged.emit(self.createIndex(first.row(), 0, first), self.createIndex(end.row(), last, end))
            for child in node.children:
                if child.children:
                    self._emit_subtree(child, last)

    def refresh_all(self) -> None:
        """After a preset changed the core directly."""
        if self._root is not None:
            self._emit_subtree(self._root, len(COLUMNS) - 1)
        self.trainableChanged.emit()
