"""An unterminated quote in a dataset CSV is reported, never silently swallowing the rows after it."""
import shutil

import pytest

from tlstudio.core.data.images import scan_csv
from tlstudio.core.errors import DatasetError
from tlstudio.core.paths import demo_data_dir


def test_an_unterminated_quote_is_reported_with_its_line(tmp_path):
    for name in ("bag", "trouser"):
        for i, src in enumerate(sorted((demo_data_dir() / name).iterdir())[:3]):
            shutil.copy(src, tmp_path / f"{name}{i}.png")
    rows = ["path,label", "bag0.png,bag", '"bag1.png,bag', "bag2.png,bag",
            "trouser0.png,trouser", "trouser1.png,trouser", "trouser2.png,trouser"]
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="opened on line 3"):
        scan_csv(csv_path)
    rows[2] = "bag1.png,bag"
    csv_path.write_text("\n".join(rows) + "\n")
    assert len(scan_csv(csv_path).samples) == 6
