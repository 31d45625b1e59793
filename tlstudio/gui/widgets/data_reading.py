"""How a data file is read, when the file does not say: its encoding, and whether it holds images or texts.

``DataReading`` is the Data tab's part that holds both for the open project.
``EncodingChoice`` is the Data tab's encoding box: "Automatic" (UTF-8, or UTF-16
with a byte-order mark, as the core reads without a name) or a named encoding,
typed or picked. ``KindQuestion`` asks, without blocking the event loop, whether
a table the detection could not decide holds images or texts.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QMessageBox, QWidget

AUTOMATIC = "Automatic (UTF-8 or UTF-16 with BOM)"
# Encodings spreadsheet programs save in, besides UTF-8/UTF-16: (name Python knows, what it is).
COMMON_ENCODINGS = (("cp1252", "Windows Western (Excel on Windows)"), ("latin-1", "ISO-8859-1"),
                    ("utf-16-le", "UTF-16 without BOM"), ("shift_jis", "Japanese"), ("gbk", "Chinese (simplified)"),
                    ("cp1251", "Windows Cyrillic"), ("mac_roman", "Mac OS Roman"))
NOUNS = {"image": "Images", "text": "Texts"}


class EncodingChoice(QComboBox):
    """An editable choice of encoding; ``encodingChosen(name)`` ("" for automatic) when it changes."""

    encodingChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="encodingChoice", editable=True)
        self.addItem(AUTOMATIC, "")
        for name, what in COMMON_ENCODINGS:
            self.addItem(f"{name} — {what}", name)
        self.setToolTip("How a CSV/TSV/JSON Lines file's bytes are read. Automatic reads UTF-8 (with or without "
                        "a byte-order mark) and UTF-16 with one; pick or type another when the file was saved "
                        "in it (it is never guessed).")
        self.setMinimumContentsLength(18)
        self.activated.connect(lambda _: self._emit())
        self.lineEdit().editingFinished.connect(self._emit)
        self._last = ""

    def encoding(self) -> str:
        """The chosen encoding's name, "" for automatic."""
        text = self.currentText().strip()
        for i in range(self.count()):
            if self.itemText(i) == text:
                return str(self.itemData(i) or "")
        return text.split(" ")[0] if text else ""

    def set_encoding(self, name: str | None) -> None:
        self.blockSignals(True)
        found = self.findData(name or "")
        if found >= 0:
            self.setCurrentIndex(found)
        else:
            self.setEditText(str(name))
        self.blockSignals(False)
        self._last = self.encoding()

    def _emit(self) -> None:
        if self.encoding() != self._last:
            self._last = self.encoding()
            self.encodingChosen.emit(self._last)


class KindQuestion(QMessageBox):
    """"What does this file hold?" with one button per choice; ``answered(kind)``, or nothing on Cancel."""

    answered = Signal(str)

    def __init__(self, found: str, choices, parent: QWidget | None = None) -> None:
        super().__init__(QMessageBox.Icon.Question, "What does this file hold?",
                         "TL Studio cannot tell from the file whether it holds images or texts.", parent=parent)
        self.setObjectName("kindQuestion")
        self.setInformativeText(found[:1].upper() + found[1:] + ".")
        self.kind_buttons = {}
        for kind in choices:
            self.kind_buttons[kind] = self.addButton(NOUNS.get(kind, kind.title()), QMessageBox.ButtonRole.AcceptRole)
        self.addButton(QMessageBox.StandardButton.Cancel)
        self.buttonClicked.connect(self._clicked)

    def _clicked(self, button) -> None:
        for kind, kind_button in self.kind_buttons.items():
            if button is kind_button:
                self.answered.emit(kind)


class DataReading(QObject):
    """How the Data tab reads the project's data file: the encoding box (``encoding_choice``, stored in
    the project's ``data.encoding``) and the images-or-texts ``question`` for a file the detection
    could not decide (the answer is kept per path). ``rescan()`` is called after either changes."""

    def __init__(self, state, rescan: Callable[[], None], parent: QWidget) -> None:
        super().__init__(parent)
        self.state, self._rescan, self._parent = state, rescan, parent
        self.encoding_choice = EncodingChoice(parent)
        self.encoding_choice.encodingChosen.connect(self.choose_encoding)
        self.question: KindQuestion | None = None
        self._chosen_kind: dict[str, str] = {}

    def encoding(self) -> str:
        return self.state.project.data.encoding or ""

    def kind_for(self, path: str) -> str | None:
        """The kind the user said ``path`` holds, or None (detected)."""
        return self._chosen_kind.get(path)

    def load(self) -> None:
        """Show the open project's encoding."""
        self.encoding_choice.set_encoding(self.state.project.data.encoding)

    def choose_encoding(self, name: str) -> None:
        """Read the data file in ``name`` ("": automatic) from now on, and scan it again."""
        if self.encoding() != name:
            self.state.project.data.encoding = name or None
            self.state.mark_changed("data")
            self._rescan()

    def choose_kind(self, path: str, kind: str) -> None:
        """The answer to "images or texts?" for ``path``: scan it as that."""
        self._chosen_kind[path] = kind
        if path == self.state.project.data.path:
            self._rescan()

    def ask(self, path: str, found: str, choices) -> None:
        """Ask what ``path`` holds (without blocking); the answer rescans it."""
        self.question = KindQuestion(found, choices, self._parent)
        self.question.answered.connect(lambda kind: self.choose_kind(path, kind))
        self.question.open()
