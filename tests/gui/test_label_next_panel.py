"""The Label-next tab on real images and texts: it finds the pool's next samples in a worker, a key
press labels the selected one (stored in the project, never in the files), the sample leaves the list at
once and a re-ranking off the GUI thread replaces the list."""
import csv
import glob
import hashlib
import shutil
from pathlib import Path

from PySide6.QtCore import Qt

from tlstudio.core.data.curation import apply_curation
from tlstudio.core.data.modality import scan
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.paths import demo_data_dir, resources_dir
from tlstudio.core.project import Project
from tlstudio.gui.jobs import tasks
from tlstudio.gui.panels.label_next_panel import LabelNextPanel, sample_key
from tlstudio.gui.state import ProjectState

CLASSES = ("bag", "sneaker", "trouser")


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def image_pool(root: Path, labelled: int = 3, unlabeled: int = 8) -> Path:
    """Real demo images: ``labelled`` per class in class folders, ``unlabeled`` per class in unlabeled/."""
    for cls in CLASSES:
        files = sorted(glob.glob(str(demo_data_dir() / cls / "*.png")))
        (root / cls).mkdir(parents=True)
        (root / "unlabeled").mkdir(exist_ok=True)
        for f in files[:labelled]:
            shutil.copy(f, root / cls / Path(f).name)
        for f in files[labelled:labelled + unlabeled]:
            shutil.copy(f, root / "unlabeled" / f"{cls}-{Path(f).name}")
    return root


def panel_for(qtbot, project: Project, path: Path) -> LabelNextPanel:
    state = ProjectState(project, path)
    panel = LabelNextPanel(state)
    qtbot.addWidget(panel)
    panel.resize(900, 640)
    panel.show()
    return panel


def test_keys_label_the_selected_sample_and_the_list_reranks(qtbot, tmp_path, monkeypatch):
    from tlstudio.gui.panels import label_next_panel

    started, overlapping = [], []

    def counting_run_task(fn, *args, **kwargs):         # records re-rankings started while another runs
        overlapping.extend(t for t in started if t.is_running())
        started.append(tasks.run_task(fn, *args, **kwargs))
        return started[-1]

    monkeypatch.setattr(label_next_panel, "run_task", counting_run_task)
    data = image_pool(tmp_path / "data")
    before = tree(data)
    p = Project(name="label next")
    p.data.path = str(data)
    p.model.image_size = 64
    p.head = HeadSpec(layers=[])
    p.training.device = "cpu"
    panel = panel_for(qtbot, p, tmp_path / "p.json")
    panel.compute()
    assert panel.task is not None and not panel.compute_button.isEnabled()
    qtbot.waitUntil(lambda: panel.task is None, timeout=120000)
    assert panel.data is not None, panel.status.text()
    assert panel.table.rowCount() == len(panel.rows) == 20
    assert "9 labelled, 24 unlabeled" in panel.status.text()
    assert all(r["suggested"] in CLASSES for r in panel.rows)
    assert [b.text() for b in panel.class_buttons] == [f"{i + 1} {c}" for i, c in enumerate(CLASSES)]
    # Key 2 labels the selected (first) sample 'sneaker': stored in the project, gone from the list at once.
    first = sample_key(panel.rows[0])
    panel.table.selectRow(0)
    qtbot.keyClick(panel.table, Qt.Key.Key_2)
    state = panel.state
    assert state.project.data.label_overrides == {first: "sneaker"} and state.dirty
    assert first not in [sample_key(r) for r in panel.rows] and panel.table.rowCount() == 19
    assert "10 labelled, 23 unlabeled" in panel.status.text()
    # Enter accepts the suggestion of the sample selected next.
    second, guess = sample_key(panel.rows[0]), panel.rows[0]["suggested"]
    qtbot.keyClick(panel.table, Qt.Key.Key_Return)
    assert state.project.data.label_overrides[second] == guess
    assert overlapping == []          # labels given during a re-ranking waited for it: one worker at a time
    # The re-ranking arrives from a worker and never lists a labelled sample.
    qtbot.waitUntil(lambda: not tasks.running_tasks() and panel.table.rowCount() == 20, timeout=30000)
    listed = {sample_key(r) for r in panel.rows}
    assert not listed & {first, second} and len(listed) == 20
    assert "11 labelled, 22 unlabeled" in panel.status.text()
    # The labels live in the project: a scan with its curation sees them; the files are untouched.
    state.save()
    again = Project.load(tmp_path / "p.json")
    index = apply_curation(scan(str(data), "image", data=again.data), again.data)
    assert len(index.samples) == 11 and len(index.pool) == 22
    assert tree(data) == before


def test_text_rows_show_the_words_and_a_click_accepts(qtbot, tmp_path):
    rows = list(csv.reader((resources_dir() / "demo_text_data" / "wordnet_definitions.csv").open(encoding="utf-8")))
    seen: dict[str, int] = {}
    out = [rows[0]]
    for text, label in rows[1:]:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= 6:
            out.append([text, label if seen[label] <= 2 else ""])
    data = tmp_path / "defs.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(out)
    p = Project(name="texts", task="text")
    p.data.path = str(data)
    p.model.name = "all-MiniLM-L6-v2"
    p.training.device = "cpu"
    panel = panel_for(qtbot, p, tmp_path / "t.json")
    panel.compute()
    qtbot.waitUntil(lambda: panel.task is None, timeout=120000)
    assert panel.data is not None, panel.status.text()
    assert panel.table.isColumnHidden(0)
    texts = {t for t, _ in out[1:]}
    assert panel.table.item(0, 1).text() in texts and panel.rows[0]["row"].startswith("defs.csv:")
    key, guess = sample_key(panel.rows[0]), panel.rows[0]["suggested"]
    panel._on_cell_clicked(0, 2)                  # a click on the suggestion accepts it
    assert panel.state.project.data.label_overrides == {key: guess}
    qtbot.waitUntil(lambda: not tasks.running_tasks(), timeout=30000)
    assert key not in {sample_key(r) for r in panel.rows}


def test_the_main_window_has_the_tab(qtbot):
    from tlstudio.gui.app import build_main_window

    window = build_main_window(demo=False)
    qtbot.addWidget(window)
    i = window.tabs.indexOf(window.label_next_panel)
    assert i >= 0 and window.tabs.tabText(i) == "Label next" and not window.tabs.tabIcon(i).isNull()
    assert window.label_next_panel.table.rowCount() == 0 and "unlabeled" in window.label_next_panel.status.text()
