"""LayerTreeModel: both directions of the check-box <-> requires_grad binding."""
import pytest
from PySide6.QtCore import Qt

from tlstudio.core.model.build import create_transfer_model
from tlstudio.core.model.head import HeadLayer, HeadSpec
from tlstudio.core.model.layers import build_layer_tree, freeze_base, unfreeze_last_blocks
from tlstudio.gui.itemmodels.layer_tree import COL_NAME, COL_TRAINABLE, LayerTreeModel, head_subtree

CHECK = Qt.ItemDataRole.CheckStateRole
Checked, Unchecked, Partial = Qt.CheckState.Checked, Qt.CheckState.Unchecked, Qt.CheckState.PartiallyChecked


@pytest.fixture(scope="module")
def transfer_model():
    model = create_transfer_model("tf_efficientnet_lite0", HeadSpec.default(3), 3)
    return model, build_layer_tree(model, 64)


@pytest.fixture
def tree(transfer_model):
    model, root = transfer_model
    freeze_base(model)
    tree = LayerTreeModel()
    tree.set_tree(model, root)
    return tree


def test_item_model_is_consistent(tree, qtmodeltester):
    qtmodeltester.check(tree, force_py=True)


def grads(model, prefix):
    return {p.requires_grad for n, p in model.named_parameters() if n.startswith(prefix + ".")}


def test_columns_show_core_values(tree):
    blocks = tree.index_of("base.blocks")
    assert tree.data(blocks) == "blocks"
    assert tree.data(blocks.siblingAtColumn(1)) == "Sequential"
    assert tree.data(blocks.siblingAtColumn(2)) == "320×2×2"     # 64 px input, stride 32
    assert tree.data(blocks.siblingAtColumn(COL_TRAINABLE)) == "frozen"
    assert tree.data(tree.index_of("head"), CHECK) == Checked


def test_unchecking_freezes_and_checking_unfreezes_the_subtree(tree, qtbot):
    model = tree.torch_model
    block = tree.index_of("base.blocks.6")
    with qtbot.waitSignal(tree.trainableChanged):
        assert tree.setData(block, Checked, CHECK)
    assert grads(model, "base.blocks.6") == {True}
    assert grads(model, "base.blocks.5") == {False}
    assert tree.data(block, CHECK) == Checked
    # Ancestors read partial, descendants read trainable.
    assert tree.data(tree.index_of("base.blocks"), CHECK) == Partial
    assert tree.data(tree.index_of("base"), CHECK) == Partial
    assert tree.data(tree.index_of("base.blocks.6.0"), CHECK) == Checked

    assert tree.setData(tree.index_of("base"), Unchecked, CHECK)
    assert grads(model, "base") == {False}
    assert tree.data(block, CHECK) == Unchecked
    assert tree.data(tree.index_of("base"), CHECK) == Unchecked

    # Checking the head off freezes the head too.
    assert tree.setData(tree.index_of("head"), Unchecked, CHECK)
    assert grads(model, "head") == {False}


def test_data_changed_covers_ancestors_and_descendants(tree):
    seen = set()
    tree.dataChanged.connect(lambda tl, br: seen.update(
        tree.node(tree.index(r, 0, tl.parent())).name for r in range(tl.row(), br.row() + 1)))
    tree.setData(tree.index_of("base.blocks.3"), Checked, CHECK)
    assert {"base", "base.blocks", "base.blocks.3", "base.blocks.3.0", "base.blocks.3.0.conv_pw"} <= seen


def test_core_change_is_reported_back(tree, qtbot):
    model = tree.torch_model
    assert tree.data(tree.index_of("base.blocks.6"), CHECK) == Unchecked
    unfreeze_last_blocks(model, 2)
    with qtbot.waitSignal(tree.dataChanged):
        tree.refresh_all()
    assert tree.data(tree.index_of("base.blocks.6"), CHECK) == Checked
    assert tree.data(tree.index_of("base.blocks.5"), CHECK) == Checked
    assert tree.data(tree.index_of("base.blocks.4"), CHECK) == Unchecked
    assert tree.data(tree.index_of("base.blocks"), CHECK) == Partial


def test_removed_classifier_is_shown_but_not_checkable(tree):
    removed = next(n for n in tree.root.walk() if n.removed)
    index = tree.index_of(removed.name)
    assert tree.data(index).endswith("(removed)")
    assert tree.data(index, CHECK) is None
    flags = tree.flags(index)
    assert not flags & Qt.ItemFlag.ItemIsUserCheckable and not flags & Qt.ItemFlag.ItemIsEnabled
    assert tree.data(index, Qt.ItemDataRole.FontRole).strikeOut()
    assert not tree.setData(index, Checked, CHECK)


def test_head_subtree_replacement_without_forward(tree):
    model = tree.torch_model
    spec = HeadSpec([HeadLayer("linear", width=32), HeadLayer("activation", activation="relu")], 3)
    model.head = spec.build(model.feature_dim, 3)
    tree.replace_head(head_subtree(model, spec, 3))
    head = tree.index_of("head")
    assert tree.rowCount(head) == 3
    shapes = [tree.data(tree.index(r, 2, head)) for r in range(3)]
    assert shapes == ["32", "32", "3"]
    assert tree.data(tree.index(0, COL_NAME, head), CHECK) == Checked
    assert tree.node(tree.index(0, 0, head)).parent is tree.node(head)
