"""Contract: what differs between modalities is asked of the modality, not branched on.

An AST walk over ``tlstudio/`` finds every comparison of something against "text" or "image"
(``==``, ``!=``, ``in``, ``not in``) and every test of an ``is_text``/``is_image`` flag. Outside the
seam (``core/data/*modality*.py``, ``core/data/detect.py`` and the GUI view registry ``gui/views/``)
each one must be in ``ALLOWED`` with its reason. A new modality goes into the seam: a Modality in
``core/data`` and its pages in ``gui/views``; a panel asks ``modality_for(task)`` or picks a view by name.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "tlstudio"
WORDS = {"text", "image"}
FLAGS = {"is_text", "is_image"}
# (file relative to tlstudio/, how many branches) -> why it may branch.
ALLOWED = {
    ("cli/commands.py", 1): "validate_for_training hands a text project to the CLI's own text checks (model "
                            "folder, tokenizer, max length) before any run folder exists",
    ("cli/run_commands.py", 1): "`predict RUN` takes --text/--file for a text run and IMAGE paths otherwise: "
                                "the command line itself differs",
    ("core/runs/parity_inputs.py", 1): "an export is checked on token batches for a text run and on decoded "
                                       "images otherwise; both need the loaded model, which the modality "
                                       "(a lower layer) does not see",
    ("core/runs/folder.py", 1): "a text run is rebuilt from its own config copy (text_model/), an image run "
                                "from the catalog name",
    ("core/runs/predict.py", 1): "predict_texts is the text-only entry point and refuses an image model",
    ("gui/splash.py", 1): "reads the project file's task before any of core is imported, to preload the "
                          "text libraries while the splash shows",
}


def in_seam(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return ((rel.startswith("core/data/") and ("modality" in name or name == "detect.py"))
            or rel.startswith("gui/views/"))


def _is_word(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in WORDS
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_word(e) for e in node.elts)
    return False


def _is_flag(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return (isinstance(node, ast.Name) and node.id in FLAGS) or (isinstance(node, ast.Attribute)
                                                                 and node.attr in FLAGS)


def branches(source: str) -> list[int]:
    """Line numbers of the image-vs-text branches in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            if any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops) and \
                    any(_is_word(side) for side in (node.left, *node.comparators)):
                found.append(node.lineno)
        elif isinstance(node, (ast.If, ast.IfExp, ast.While)) and _is_flag(node.test):
            found.append(node.lineno)
        elif isinstance(node, ast.BoolOp):
            found.extend(node.lineno for value in node.values if _is_flag(value))
    return sorted(found)


def branches_outside_seam(root: Path = ROOT) -> dict[str, list[int]]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not in_seam(rel):
            lines = branches(path.read_text(encoding="utf-8"))
            if lines:
                out[rel] = lines
    return out


def test_no_image_vs_text_branch_outside_the_seam():
    found = {(rel, len(lines)) for rel, lines in branches_outside_seam().items()}
    new = sorted(f"{rel}: {n} branch(es) at lines {branches_outside_seam()[rel]}"
                 for rel, n in found - set(ALLOWED))
    assert not new, ("Image-vs-text branches outside the modality seam; ask modality_for(task) or a view "
                     "from gui/views instead (or allow-list with a reason):\n" + "\n".join(new))


def test_the_allow_list_is_short_and_current():
    assert sum(n for _, n in ALLOWED) <= 10 and all(reason.strip() for reason in ALLOWED.values())
    found = {(rel, len(lines)) for rel, lines in branches_outside_seam().items()}
    stale = set(ALLOWED) - found
    assert not stale, f"Allowed branches that are gone (shorten the list): {sorted(stale)}"


@pytest.mark.parametrize("source, count", [
    ('if task == "text":\n    pass\n', 1),
    ('x = "texts" if project.task != "image" else "images"\n', 1),
    ('ok = kind in ("image", "text")\n', 1),
    ('if not self.is_text():\n    pass\n', 0),           # a call: the method is where the branch is
    ('if browser.is_text:\n    pass\n', 1),
    ('y = a and is_image\n', 1),
    ('noun = modality_for(task).noun\n', 0),
    ('pages = {"image": 1, "text": 2}[task]\n', 0),
])
def test_the_walk_finds_branches(source, count):
    assert len(branches(source)) == count


def test_a_new_branch_in_a_panel_fails(tmp_path):
    panel = tmp_path / "gui" / "panels" / "new_panel.py"
    panel.parent.mkdir(parents=True)
    panel.write_text('def title(task):\n    return "Texts" if task == "text" else "Images"\n', encoding="utf-8")
    seam = tmp_path / "core" / "data" / "audio_modality.py"
    seam.parent.mkdir(parents=True)
    seam.write_text('def f(task):\n    return task == "image"\n', encoding="utf-8")
    assert branches_outside_seam(tmp_path) == {"gui/panels/new_panel.py": [2]}
