"""A project packed for a GPU machine or a cluster: project file + torchrun script + SLURM template.

``cluster_files(project, ...)`` gives the three files' names and texts;
``write_cluster_files`` writes them (never over an existing file unless told).
The scripts run ``python -m torch.distributed.run ... -m tlstudio.cli train``
(see ``core/train/distributed.py``): torchrun's elastic restarts
(``--max-restarts``) resume the run from its last checkpoint, and the run
folder they name is what the Results tab opens afterwards.
"""
from __future__ import annotations

import os
import re
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from tlstudio.core import atomic

PROJECT_FILE = "project.json"
TORCHRUN_FILE = "train_torchrun.sh"
SLURM_FILE = "train_slurm.sbatch"
PORT = 29500


@dataclass
class ClusterPlan:
    """What the launch scripts ask for."""

    gpus_per_node: int = 1
    nodes: int = 1
    max_restarts: int = 3
    time_limit: str = "04:00:00"        # SLURM's --time
    python: str = ""                     # "" : python3 on the cluster (or this interpreter when not frozen)

    def interpreter(self) -> str:
        if self.python:
            return self.python
        return "python3" if getattr(sys, "frozen", False) else sys.executable


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name or "project").strip("-.") or "project"


def run_folder_name(project) -> str:
    """The run folder the scripts write to, relative to the folder they are in."""
    return f"runs/{safe_name(project.name)}"


def torchrun_command(project, plan: ClusterPlan, *, endpoint: str = "$MASTER_ADDR",
                     run_id: str = "$RUN_ID") -> str:
    """The one command line every node runs (shell variables left for the script to fill in)."""
    q = shlex.quote
    if plan.nodes > 1:
        where = (f"--nnodes {plan.nodes} --rdzv-backend c10d --rdzv-endpoint \"{endpoint}:{PORT}\" "
                 f"--rdzv-id \"{run_id}\"")
    else:
        where = "--standalone --nnodes 1"
    return (f"\"$PYTHON\" -m torch.distributed.run {where} --nproc-per-node {plan.gpus_per_node} "
            f"--max-restarts {plan.max_restarts} \\\n    -m tlstudio.cli train \"$DATA\" --project {q(PROJECT_FILE)} "
            f"--out \"$OUT\" \"$@\"")


def _header(project, plan: ClusterPlan) -> str:
    q = shlex.quote
    return (f"PYTHON=${{PYTHON:-{q(plan.interpreter())}}}      # a Python with TL Studio and torch installed\n"
            f"DATA=${{DATA:-{q(os.path.abspath(project.data.path or '.'))}}}      # the dataset as this machine sees it\n"
            f"OUT=${{OUT:-{run_folder_name(project)}}}      # the run folder; open it in TL Studio's Results tab\n"
            "# export TLSTUDIO_CACHE_DIR=/shared/tlstudio-cache   # a shared feature cache, reused by later runs\n")


def torchrun_script(project, plan: ClusterPlan) -> str:
    lines = ["#!/usr/bin/env bash",
             f"# TL Studio: train \"{project.name}\" with torchrun on {plan.gpus_per_node} GPU(s) per machine"
             + (f", {plan.nodes} machines" if plan.nodes > 1 else "") + ".",
             "# Started again after a failure (or with --resume), the run continues from its last checkpoint.",
             "set -euo pipefail", 'cd "$(dirname "$0")"', _header(project, plan).rstrip("\n")]
    if plan.nodes > 1:
        lines += ["# Run this script on every machine; MASTER_ADDR is the first machine's host name.",
                  'MASTER_ADDR=${MASTER_ADDR:?set MASTER_ADDR to the first machine\'s host name}',
                  f"RUN_ID=${{RUN_ID:-tlstudio-{safe_name(project.name)}}}"]
    lines.append("exec " + torchrun_command(project, plan))
    return "\n".join(lines) + "\n"


def slurm_script(project, plan: ClusterPlan) -> str:
    name = safe_name(project.name)
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name=tlstudio-{name}",
             f"#SBATCH --nodes={plan.nodes}",
             "#SBATCH --ntasks-per-node=1             # one torchrun per node; it starts one process per GPU",
             f"#SBATCH --gpus-per-node={plan.gpus_per_node}",
             f"#SBATCH --cpus-per-task={min(64, 8 * plan.gpus_per_node)}      # image decoding workers",
             f"#SBATCH --time={plan.time_limit}",
             "#SBATCH --output=tlstudio-%j.log",
             "# Submit from this folder: sbatch " + SLURM_FILE + "   (add your site's --partition / --account)",
             "set -euo pipefail",
             'cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")}"',
             _header(project, plan).rstrip("\n"),
             'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
             'RUN_ID="$SLURM_JOB_ID"']
    multi = ClusterPlan(plan.gpus_per_node, max(2, plan.nodes), plan.max_restarts, plan.time_limit, plan.python)
    command = torchrun_command(project, multi).replace(f"--nnodes {multi.nodes}", '--nnodes "$SLURM_JOB_NUM_NODES"')
    lines.append("srun " + command)
    return "\n".join(lines) + "\n"


def cluster_files(project, plan: ClusterPlan) -> dict[str, str]:
    """File name -> text, for the folder the user chose."""
    import json

    return {PROJECT_FILE: json.dumps(project.to_dict(), indent=2) + "\n",
            TORCHRUN_FILE: torchrun_script(project, plan),
            SLURM_FILE: slurm_script(project, plan)}


def existing_files(folder: str | os.PathLike) -> list[str]:
    """Which of the files ``write_cluster_files`` writes are already in ``folder``."""
    return [name for name in (PROJECT_FILE, TORCHRUN_FILE, SLURM_FILE) if (Path(folder) / name).exists()]


def write_cluster_files(project, plan: ClusterPlan, folder: str | os.PathLike, *,
                        overwrite: bool = False) -> list[Path]:
    """Write the files into ``folder``; FileExistsError when one exists and ``overwrite`` is False."""
    folder = Path(folder)
    clash = existing_files(folder)
    if clash and not overwrite:
        raise FileExistsError(f"{folder} already holds {', '.join(clash)}.")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in cluster_files(project, plan).items():
        path = folder / name
        atomic.write_text(path, text)
        if name != PROJECT_FILE:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written
