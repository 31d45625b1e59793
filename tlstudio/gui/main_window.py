"""The main window: the Data → Model → Head → Train → Results tabs, menus, files.

It owns the project's life cycle (new, open, save, recent files, the unsaved
changes prompt, closing while training) and hands every panel the same
``ProjectState``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox, QStackedWidget, QTabWidget,
                               QToolBar, QToolButton)

from tlstudio.core.data.modality import modality_for
from tlstudio.core.errors import TLStudioError
from tlstudio.core.project import Project

from tlstudio.gui import demos
from tlstudio.gui.jobs import tasks
from tlstudio.gui.panels import cluster_dialog
from tlstudio.gui.panels.audit_panel import AuditPanel
from tlstudio.gui.panels.label_next_panel import LabelNextPanel
from tlstudio.gui.panels.dataset_browser import DatasetBrowser
from tlstudio.gui.panels.head_designer import HeadDesigner
from tlstudio.gui.icons import app_icon, icon
from tlstudio.gui.panels.model_panel import ModelPanel
from tlstudio.gui.panels.results_panel import ResultsPanel
from tlstudio.gui.panels.start_page import StartPage, dropped_path
from tlstudio.gui.panels.training_panel import TrainingPanel
from tlstudio.gui.state import ProjectState

log = logging.getLogger(__name__)
PROJECT_FILTER = "TL Studio projects (*.json);;All files (*)"
MAX_RECENT = 8
DEFAULT_SIZE = (1280, 800)


def settings() -> QSettings:
    # The default constructor: the application's names (set in app.ensure_application) and the
    # default format, so tests can point it at a throw-away file (an explicit (org, app) pair
    # always writes the user's real settings).
    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName("TLStudio")
        QCoreApplication.setApplicationName("TLStudio")
    return QSettings()


def recent_files() -> list[str]:
    """The recent project files, newest first."""
    value = settings().value("recentFiles", [])
    if isinstance(value, str):   # QSettings hands back a bare string for a one-item list
        value = [value]
    return [str(v) for v in value or []]


def shortcut_list(window) -> list[tuple[str, str]]:
    """(keys, what) of every menu and tab shortcut, in the platform's notation."""
    rows = []
    for action in [*window.menuBar().actions(), *window.actions()]:
        menu = action.menu()
        for item in (menu.actions() if menu is not None else [action]):
            if not item.shortcut().isEmpty():
                rows.append((item.shortcut().toString(QKeySequence.SequenceFormat.NativeText),
                             item.text().replace("&", "").rstrip("…")))
    return rows


class MainWindow(QMainWindow):
    def __init__(self, state: ProjectState | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.state = state or ProjectState(parent=self)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.tabs = QTabWidget(objectName="mainTabs")
        self.tabs.setDocumentMode(True)
        self.dataset_browser = DatasetBrowser(self.state, self)
        self.model_panel = ModelPanel(self.state, self)
        self.head_designer = HeadDesigner(self.state, self)
        self.training_panel = TrainingPanel(self.state, self)
        self.results_panel = ResultsPanel(self.state, self)
        self.audit_panel = AuditPanel(self.state, self)
        self.audit_panel.flaggedChanged.connect(self.results_panel.embedding_map.set_flagged)
        self.label_next_panel = LabelNextPanel(self.state, self)
        for widget, title, icon_name in ((self.dataset_browser, "Data", "data"), (self.model_panel, "Model", "model"),
                                         (self.head_designer, "Head", "head"), (self.training_panel, "Train", "train"),
                                         (self.results_panel, "Results", "results"),
                                         (self.audit_panel, "Audit", "audit"),
                                         (self.label_next_panel, "Label next", "label")):
            self.tabs.addTab(widget, icon(icon_name), title)
        self.start_page = StartPage(self)
        self.pages = QStackedWidget(objectName="mainPages")
        self.pages.addWidget(self.start_page)
        self.pages.addWidget(self.tabs)
        self.pages.setCurrentWidget(self.tabs)
        self.setCentralWidget(self.pages)
        self._connect_start_page()
        self._build_actions()
        self._build_status_bar()
        self.state.dirtyChanged.connect(lambda _d: self._update_title())
        self.state.pathChanged.connect(self._update_title)
        self.state.datasetChanged.connect(self._on_dataset_changed)
        self.state.modelChanged.connect(self._update_status)
        self.state.runFinished.connect(self._on_run_finished)
        self.state.projectReplaced.connect(self.show_project)
        self.state.projectReplaced.connect(self._reset_panels)
        self.state.changed.connect(lambda section: section == "runs" and self._update_actions())
        self.model_panel.loadingChanged.connect(lambda _l: self._update_status())
        self._restore_geometry()
        self._update_title()
        self._update_actions()

    # -- actions and menus -----------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.new_action = self._action("&New image project", self.new_project, QKeySequence.StandardKey.New, "new")
        self.new_text_action = self._action("New &text project", lambda: self.new_project("text"), "Ctrl+Shift+N")
        self.start_action = self._action("Start &page", self.show_start_page)
        self.open_action = self._action("&Open…", self.open_project_dialog, QKeySequence.StandardKey.Open, "open")
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save, "save")
        self.save_as_action = self._action("Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        self.export_action = self._action("&Export model…", self.export_model, None, "export")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.open_data_action = self._action("Open &dataset folder…", self.dataset_browser.choose_folder,
                                             None, "folder")
        self.cluster_action = self._action("Run on a &cluster…", lambda: cluster_dialog.run_on_cluster(self))
        self.open_run_action = self._action("Open &run folder…", lambda: cluster_dialog.open_run_folder(self))
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.new_action, self.new_text_action, self.open_action])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addActions([self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.open_data_action, self.export_action])
        file_menu.addActions([self.open_run_action, self.cluster_action])
        file_menu.addSeparator()
        file_menu.addActions([self.start_action, self.quit_action])
        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts, "F1")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self._action("&About TL Studio", self.about))
        self.tab_actions = []
        for i in range(self.tabs.count()):
            action = self._action(f"Show the {self.tabs.tabText(i)} tab", lambda i=i: self.show_tab(i),
                                  f"Ctrl+{i + 1}")
            self.addAction(action)
            self.tab_actions.append(action)
        toolbar = QToolBar("Main", objectName="mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        # One "New project" button: a project of the current kind; its arrow offers image or text.
        self.new_button_action = self._action("New project", lambda: self.new_project(self.state.project.task),
                                              None, "new")
        self.new_button_action.setToolTip("A new project of the same kind as this one (image or text); "
                                          "the arrow offers both.")
        new_menu = QMenu(self)
        new_menu.addActions([self.new_action, self.new_text_action])
        self.new_button_action.setMenu(new_menu)
        toolbar.addActions([self.new_button_action, self.open_action, self.save_action])
        toolbar.widgetForAction(self.new_button_action).setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        toolbar.addSeparator()
        toolbar.addActions([self.open_data_action, self.export_action])
        self.addToolBar(toolbar)
        self._fill_recent_menu()

    def _build_status_bar(self) -> None:
        self.data_status = QLabel(objectName="dataStatus")
        self.model_status = QLabel(objectName="modelStatus")
        for label in (self.data_status, self.model_status):
            label.setStyleSheet("padding: 0 8px;")
        self.statusBar().addPermanentWidget(self.data_status)
        self.statusBar().addPermanentWidget(self.model_status)
        self._update_status()

    # -- title and status -----------------------------------------------------------------------
    def _update_title(self) -> None:
        if self.is_start_page_shown():
            return
        self.setWindowTitle(f"{self.state.display_name()}[*] — TL Studio")
        self.setWindowModified(self.state.dirty)

    def _update_status(self) -> None:
        ds = self.state.dataset
        noun = modality_for(getattr(ds, "task", "image")).noun
        self.data_status.setText(f"{len(ds.samples):,} {noun} · {len(ds.classes)} classes"
                                 + (f" · {len(ds.pool):,} unlabeled" if ds.pool else "") if ds else "No dataset")
        if self.model_panel.is_loading():
            self.model_status.setText(f"Loading {self.state.project.model.name}…")
        elif self.state.model is not None:
            self.model_status.setText(self.state.project.model.name)
        else:
            self.model_status.setText("No model loaded")

    def _on_dataset_changed(self) -> None:
        self._update_status()

    def _on_run_finished(self, run_dir: str) -> None:
        self.statusBar().showMessage(f"Training finished: {run_dir}", 10000)

    # -- project files ------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the user cancelled."""
        if not self.state.dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.state.display_name()} first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_project(self, task: str = "image") -> bool:
        """An empty image or text project, on the Data tab."""
        if not self.maybe_save():
            return False
        self.state.replace_project(demos.new_project(task))
        self.tabs.setCurrentIndex(0)
        return True

    # -- the start page ------------------------------------------------------------------
    def _connect_start_page(self) -> None:
        page = self.start_page
        page.demoRequested.connect(lambda: self.open_demo("image"))
        page.textDemoRequested.connect(lambda: self.open_demo("text"))
        page.newProjectRequested.connect(self.new_project)
        page.openRequested.connect(self.open_project_dialog)
        page.recentRequested.connect(lambda path: self.open_project(path))
        page.pathDropped.connect(self.open_dropped)

    def show_start_page(self) -> None:
        self.start_page.set_recent(self.recent_files())
        self.pages.setCurrentWidget(self.start_page)
        self.setWindowTitle("TL Studio")
        self.setWindowModified(False)
        self._update_actions()

    def show_project(self) -> None:
        self.pages.setCurrentWidget(self.tabs)
        self._update_title()
        self._update_actions()

    def show_tab(self, index: int) -> None:
        if not self.is_start_page_shown():
            self.tabs.setCurrentIndex(index)

    def is_start_page_shown(self) -> bool:
        return self.pages.currentWidget() is self.start_page

    def open_demo(self, task: str = "image") -> bool:
        if not self.maybe_save():
            return False
        self.state.replace_project(demos.DEMOS[task]())
        self.tabs.setCurrentIndex(0)
        return True

    def open_dropped(self, path: str | Path) -> None:
        """A project file opens; a folder or data file becomes the dataset of a new project."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            self.open_project(path)
            return
        if self.is_start_page_shown():
            if not self.new_project("image"):    # the scan detects a text dataset and switches the task
                return
        self.dataset_browser.open_path(path)
        self.tabs.setCurrentWidget(self.dataset_browser)

    def open_project_dialog(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self._last_dir(), PROJECT_FILTER)
        if path:
            self.open_project(path, ask=False)

    def open_project(self, path: str | Path, ask: bool = True) -> bool:
        if ask and not self.maybe_save():
            return False
        try:
            project = Project.load(path)
        except TLStudioError as exc:
            QMessageBox.warning(self, "Cannot open project", str(exc))
            self._forget_recent(str(path))
            return False
        self.state.replace_project(project, Path(path).absolute())
        self._add_recent(str(Path(path).absolute()))
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def save(self) -> bool:
        if self.state.project_path is None:
            return self.save_as()
        return self._save_to(self.state.project_path)

    def save_as(self) -> bool:
        suggested = str(Path(self._last_dir()) / f"{self.state.project.name or 'project'}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", suggested, PROJECT_FILTER)
        return self._save_to(Path(path)) if path else False

    def _save_to(self, path: Path) -> bool:
        if self.state.project.name in ("", "Untitled"):
            self.state.project.name = Path(path).name.removesuffix(".json")
        try:
            self.state.save(path)
        except (TLStudioError, OSError) as exc:
            QMessageBox.warning(self, "Cannot save project", str(exc))
            return False
        self._add_recent(str(Path(path).absolute()))
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _last_dir(self) -> str:
        path = self.state.project_path
        return str(path.parent) if path else str(Path.home())

    # -- recent files ---------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return recent_files()

    def _add_recent(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        settings().setValue("recentFiles", files[:MAX_RECENT])

    def _forget_recent(self, path: str) -> None:
        settings().setValue("recentFiles", [p for p in self.recent_files() if p != str(Path(path).absolute())])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_project(p))
        self.recent_menu.setEnabled(bool(files))

    # -- export and about --------------------------------------------------------------------------------
    def export_model(self) -> None:
        """File › Export model: the Results tab's Export page (the one export path and naming rule)."""
        panel = self.results_panel
        self.tabs.setCurrentWidget(panel)
        panel.tabs.setCurrentWidget(panel.export_tab)
        if panel.loaded is None:
            self.statusBar().showMessage("Evaluating the run first; then export it from this page.", 8000)
            if panel.run_combo.count() and panel.run_dir is None:
                panel.load_selected()
            return
        panel.export_tab.ask_export("bundle")

    def _update_actions(self) -> None:
        """Save and Export act on an open project (Export: one with a run); the tooltip says why not."""
        on_start = self.is_start_page_shown()
        has_run = bool(self.state.project.runs)
        for action in (self.save_action, self.save_as_action):
            action.setEnabled(not on_start)
            action.setToolTip("Open or create a project first." if on_start else action.text().replace("&", ""))
        self.export_action.setEnabled(not on_start and has_run)
        self.export_action.setToolTip("Open or create a project first." if on_start else
                                      "Train a model first (Train tab); then export it." if not has_run
                                      else "Export the trained model (Results tab › Export)")

    def _reset_panels(self) -> None:
        """The "project changed" path: every panel forgets the old project. Panels that own a state
        connection reset themselves; the Train tab's charts, search table and log are reset from here."""
        self.training_panel.reset_for_new_project()
        self._update_actions()

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{key}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for key, what in shortcut_list(self))
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def about(self) -> None:
        from tlstudio import __version__

        QMessageBox.about(self, "About TL Studio",
                          f"<h3>TL Studio {__version__}</h3><p>Transfer learning on your own images and texts: pick a "
                          "pretrained network, freeze its base, design a new head, train and evaluate — "
                          "offline, on your own machine.</p>")

    # -- drag and drop: a folder or data file becomes the dataset, a .json opens as a project ---------------
    def dragEnterEvent(self, event) -> None:
        if dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = dropped_path(event.mimeData())
        if path is None:
            return
        event.acceptProposedAction()
        self.open_dropped(path)

    # -- geometry and closing -----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = settings().value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_SIZE)

    def closeEvent(self, event) -> None:
        panel = self.training_panel
        running = panel.is_running()
        if running:
            answer = QMessageBox.question(self, "Training is running",
                                          "Training is still running. Stop it and close TL Studio?",
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                          QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        if not self.maybe_save():
            event.ignore()
            return
        if running:
            self.statusBar().showMessage("Stopping training…")
            panel.stop_and_wait(30000)
        settings().setValue("window/geometry", self.saveGeometry())
        self.dataset_browser.shutdown()
        tasks.wait_for_all(30000)
        event.accept()

