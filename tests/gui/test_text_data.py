"""The Data tab with a text project: counts, the searchable table, token lengths, columns, report."""
import threading

import pytest

from tlstudio.gui import demos
from tlstudio.gui.panels.dataset_browser import DatasetBrowser
from tlstudio.gui.state import ProjectState

TIMEOUT_MS = 60_000


def open_browser(qtbot, project):
    state = ProjectState(project)
    browser = DatasetBrowser(state)
    qtbot.addWidget(browser)
    browser.resize(1280, 760)
    browser.show()
    state.replace_project(project)
    return state, browser


def wait_stats(qtbot, browser):
    qtbot.waitUntil(lambda: browser.state.dataset is not None and not browser.is_scanning()
                    and browser.pages["text"].token_stats is not None and not browser.pages["text"].is_counting_tokens(), timeout=TIMEOUT_MS)


def test_the_text_demo_shows_counts_table_and_token_histogram(qtbot, tmp_path):
    state, browser = open_browser(qtbot, demos.text_demo_project())
    wait_stats(qtbot, browser)
    index = state.dataset
    assert index.task == "text" and index.counts() == {c: 60 for c in index.classes}
    assert browser.summary.text() == "360 texts in 6 classes"
    assert browser.items_stack.currentWidget() is browser.pages["text"].text_table and browser.pages["text"].lengths_box.isVisible()
    assert not browser.pages["image"].aug_box.isVisible()
    # The table holds the first class's texts; the search narrows it.
    table = browser.pages["text"].text_table
    first = [s.text for s in index.samples if s.label == 0]
    assert sorted(r[1] for r in table.visible_rows()) == sorted(first)
    word = first[0].split()[0]
    table.search.setText(word)
    shown = table.visible_rows()
    assert shown and len(shown) < 60 and all(word.lower() in r[1].lower() for r in shown)
    # Another class in the combo: its texts.
    browser.class_combo.setCurrentIndex(3)
    assert table.model.rowCount() == 60 and table.model.rows[0][1] in {s.text for s in index.samples if s.label == 3}
    # Token lengths: every text counted, none cut at the default 128.
    stats = browser.pages["text"].token_stats
    assert len(stats.lengths) == 360 and stats.max_length == state.max_length() == 128
    assert stats.truncated == 0 and "All 360 texts fit" in browser.pages["text"].truncation_label.text()
    assert browser.pages["text"].lengths_table.rowCount() == 6
    assert browser.pages["text"].histogram.stats is stats
    browser.pages["text"].histogram.draw()
    browser.grab().save(str(tmp_path / "text-data.png"))


def test_a_smaller_max_length_counts_the_texts_it_would_cut(qtbot):
    state, browser = open_browser(qtbot, demos.text_demo_project())
    wait_stats(qtbot, browser)
    longest = max(browser.pages["text"].token_stats.lengths)
    state.set_max_length(16)
    qtbot.waitUntil(lambda: browser.pages["text"].token_stats is not None and browser.pages["text"].token_stats.max_length == 16,
                    timeout=TIMEOUT_MS)
    stats = browser.pages["text"].token_stats
    expected = sum(n > 16 for n in stats.lengths)
    assert 0 < expected < 360 and stats.truncated == expected and longest > 16
    assert f"{expected} of 360 texts" in browser.pages["text"].truncation_label.text()
    with pytest.raises(ValueError, match="between 4 and"):
        state.set_max_length(2)


def test_columns_not_named_are_chosen_by_hand_and_the_report_lists_left_out_rows(qtbot, tmp_path):
    data = tmp_path / "tickets.csv"
    rows = ["id,body_of_ticket,queue"]
    for i in range(6):
        rows.append(f"{i},the printer on floor {i} jams again,hardware")
        rows.append(f"{i + 10},cannot log in to the mail account {i},accounts")
    rows.append("20,,hardware")                                   # empty text
    rows.append("21,the printer on floor 1 jams again,hardware")  # duplicate
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    project = demos.new_project("text")
    project.data.path = str(data)
    state, browser = open_browser(qtbot, project)
    # The header names no text/label column: the scan says so and the choosers appear.
    qtbot.waitUntil(lambda: browser.pages["text"].columns_row.isVisible(), timeout=TIMEOUT_MS)
    assert state.dataset is None and "Cannot tell which columns" in browser.message.text()
    assert [browser.pages["text"].text_column_combo.itemText(i) for i in range(3)] == ["id", "body_of_ticket", "queue"]
    browser.pages["text"].choose_columns("id", "id")
    assert "two different columns" in browser.message.text()
    browser.pages["text"].text_column_combo.setCurrentText("body_of_ticket")
    browser.pages["text"].label_column_combo.setCurrentText("queue")
    browser.pages["text"].apply_columns_button.click()
    qtbot.waitUntil(lambda: state.dataset is not None, timeout=TIMEOUT_MS)
    assert state.dataset.counts() == {"accounts": 6, "hardware": 6}
    assert state.text_columns() == ("body_of_ticket", "queue")
    report = browser.pages["text"].report_label.text()
    assert "1 empty" in report and "1 duplicate" in report
    assert browser.skipped_table.rowCount() == 2
    where = {browser.skipped_table.item(r, 0).text() for r in range(2)}
    assert where == {"tickets.csv:14", "tickets.csv:15"}

    # The choice is the project's: saved, and used again when the project is opened.
    saved = tmp_path / "tickets.tlsproj.json"
    state.project.save(saved)
    import json

    assert {k: json.loads(saved.read_text())["data"][k] for k in ("text_column", "label_column")} == {
        "text_column": "body_of_ticket", "label_column": "queue"}
    browser.close()
    from tlstudio.core.project import Project

    state2, browser2 = open_browser(qtbot, Project.load(saved))
    qtbot.waitUntil(lambda: state2.dataset is not None and browser2.pages["text"].columns_row.isVisible(), timeout=TIMEOUT_MS)
    assert state2.dataset.counts() == {"accounts": 6, "hardware": 6}
    assert "Cannot tell" not in browser2.message.text() or not browser2.message.isVisible()
    assert (browser2.pages["text"].text_column_combo.currentText(), browser2.pages["text"].label_column_combo.currentText()) == (
        "body_of_ticket", "queue")
    # Another file: its columns are detected again, and nothing is saved for them.
    other = tmp_path / "plain.csv"
    other.write_text("text,label\n" + "".join(f"note {i},{'ab'[i % 2]}\n" for i in range(8)), encoding="utf-8")
    browser2.open_path(other)
    qtbot.waitUntil(lambda: state2.dataset is not None and state2.dataset.root == str(other), timeout=TIMEOUT_MS)
    assert state2.text_columns() == ("", "")
    assert "text_column" not in state2.project.to_dict()["data"]


def test_token_counting_runs_off_the_gui_thread(qtbot, monkeypatch):
    from tlstudio.gui.jobs import data_jobs

    threads = []
    real = data_jobs.token_stats

    def spy(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr("tlstudio.gui.views.text_data.token_stats", spy)
    state, browser = open_browser(qtbot, demos.text_demo_project())
    wait_stats(qtbot, browser)
    assert threads and not any(threads)
