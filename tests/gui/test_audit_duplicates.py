"""The Audit tab's Duplicates list: verified groups first with why and how close, then the "similar" tier."""


def group(keys, tier, kind, why, **flags):
    return {"keys": keys, "paths": keys, "tier": tier, "kind": kind, "why": why, "reason": why.split(",")[0],
            "labels": ["bag"] * len(keys), "splits": ["train"] * len(keys),
            "straddles_split": flags.get("straddles", False), "labels_differ": False}


def test_duplicates_show_tier_and_reason(qtbot, tmp_path):
    from tlstudio.gui.app import build_main_window

    window = build_main_window(demo=False)
    qtbot.addWidget(window)
    window.show()
    panel = window.audit_panel
    report = {"task": "image", "root": "", "model": "tf_efficientnet_lite0", "samples": 120, "classes": ["bag"],
              "label_issues": [], "outliers": [], "seconds": {"total": 3.2},
              "duplicates": [group(["bag/001.png", "bag/copy-001.jpg"], "duplicate", "near",
                                   "resized copy, mean pixel difference 1.3 of 255", straddles=True),
                             group(["bag/002.png", "bag/002 (1).png"], "duplicate", "exact", "same bytes")],
              "similar": [group(["bag/010.png", "bag/011.png"], "similar", "similar",
                                "near in feature space, cosine 0.991")],
              "counts": {"label_issues": 0, "duplicates": 2, "leaking_duplicates": 1, "similar": 1, "outliers": 0}}
    panel.show_report(report)
    panel.tabs.setCurrentIndex(1)
    rows = [[panel.dups.item(r, c).text() for c in range(3)] for r in range(panel.dups.rowCount())]
    assert rows == [["duplicate", "resized copy, mean pixel difference 1.3 of 255", "bag/001.png, bag/copy-001.jpg"],
                    ["duplicate", "same bytes", "bag/002.png, bag/002 (1).png"],
                    ["similar", "near in feature space, cosine 0.991", "bag/010.png, bag/011.png"]]
    assert panel.dups.item(0, 5).text() == "in train and val/test"
    assert "1 more only similar" in panel.summary.text()
    assert panel.dups.item(2, 0).data(0x0100) == ["bag/010.png", "bag/011.png"]      # Qt.UserRole: the keys
    panel.exclude_duplicates()                     # nothing selected: only the verified groups' copies
    assert window.state.project.data.exclusions == ["bag/copy-001.jpg", "bag/002 (1).png"]
    panel.resize(1000, 480)
    panel.grab().save(str(tmp_path / "audit-duplicates.png"))
    window.close()
