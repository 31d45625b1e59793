"""``tlstudio-cli train`` started by torchrun: join the ranks, agree on one run folder, resume after restarts.

``torchrun --nproc-per-node N -m tlstudio.cli train --project P.json`` (or
``train DATA --out RUN``) starts N copies of the same command. Here they
join the process group (``core/train/distributed.py``); rank 0 chooses the
run folder (the given ``--out``, or a new ``runs/<project>-<time>`` next to
the project file) and tells the others. Ranks other than 0 print nothing
but errors.

Elastic restarts (``torchrun --max-restarts K``): when a rank dies, torchrun
stops the others and starts all of them again with the same command line and
``TORCHELASTIC_RESTART_COUNT`` raised by one. The restarted rank 0 then finds
the run folder again (``--out``, or the folder it noted for this torchrun
run id in ``runs/.torchrun-<run id>``) and, when it holds a ``last.pt``,
resumes it with the run's own project snapshot (which records what a head
search chose), so every rank continues from the last checkpoint.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tlstudio.core.train import distributed


@dataclass
class Launch:
    dist: distributed.Dist
    run_dir: Path
    resume: bool
    project: object
    restart: int


def prepare(args, project, default_run_dir) -> Launch | None:
    """Join torchrun's ranks and agree on the run; None when this process was not started by torchrun.

    ``default_run_dir()`` gives a fresh run folder (called on rank 0 only).
    """
    if not distributed.launched():
        return None
    from tlstudio.core.project import Project
    from tlstudio.core.runs.run_folder import LAST, PROJECT, RunFolder
    from tlstudio.core.device import resolve_device

    dist = distributed.init_from_env(resolve_device(project.training.device).type == "cuda")
    if not dist.is_main:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")      # errors still reach stderr
    restart = distributed.restart_count()

    def decide() -> tuple[str, bool, dict | None]:
        run_dir = Path(args.out).absolute() if args.out else noted_run_dir(default_run_dir, restart)
        resume = bool(args.resume) or (restart > 0 and RunFolder(run_dir).file(LAST).is_file())
        snapshot = None
        if resume and restart > 0:
            snapshot = Project.load(RunFolder(run_dir).file(PROJECT)).to_dict()
        RunFolder(run_dir).check_target(resume)
        return str(run_dir), resume, snapshot

    run_dir, resume, snapshot = dist.on_main(decide)
    if snapshot is not None:
        project = Project.from_dict(snapshot)
    return Launch(dist, Path(run_dir), resume, project, restart)


def noted_run_dir(default_run_dir, restart: int) -> Path:
    """A new run folder on the first attempt; the same one after each restart of this torchrun run."""
    fresh = Path(default_run_dir())
    run_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", os.environ.get("TORCHELASTIC_RUN_ID", "none"))
    note = fresh.parent / f".torchrun-{run_id}"
    if restart > 0 and note.is_file():
        noted = note.read_text(encoding="utf-8").strip()
        if noted:
            return Path(noted)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(str(fresh), encoding="utf-8")
    return fresh
