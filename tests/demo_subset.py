"""A small copy of the bundled demo images, for tests and benchmarks that train on real pictures."""
from __future__ import annotations

import glob
import shutil
from pathlib import Path

from tlstudio.core.paths import demo_data_dir


def make_subset(dest: Path, per_class: int) -> Path:
    """The first ``per_class`` demo images of each class, copied to ``dest``."""
    src = demo_data_dir()
    for cls in sorted(p.name for p in src.iterdir() if p.is_dir()):
        (dest / cls).mkdir(parents=True)
        for f in sorted(glob.glob(str(src / cls / "*.png")))[:per_class]:
            shutil.copy(f, dest / cls)
    return dest
