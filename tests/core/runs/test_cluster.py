"""The cluster files: a project file the CLI reads back and launch scripts that name it."""
import json
import os
import subprocess

import pytest

from tlstudio.core.project import Project
from tlstudio.core.runs import cluster


def _project(tmp_path) -> Project:
    p = Project(name="My birds")
    p.data.path = str(tmp_path / "data")
    return p


def test_files_are_written_and_never_replaced_unless_asked(tmp_path):
    project, out = _project(tmp_path), tmp_path / "out"
    plan = cluster.ClusterPlan(gpus_per_node=4, nodes=2, time_limit="12:00:00", python="/opt/py/bin/python")
    written = cluster.write_cluster_files(project, plan, out)
    assert sorted(p.name for p in written) == sorted([cluster.PROJECT_FILE, cluster.TORCHRUN_FILE, cluster.SLURM_FILE])
    assert Project.load(out / cluster.PROJECT_FILE).to_dict() == project.to_dict()
    shell = (out / cluster.TORCHRUN_FILE).read_text()
    assert os.access(out / cluster.TORCHRUN_FILE, os.X_OK)
    assert "--nproc-per-node 4" in shell and "--nnodes 2" in shell and "--rdzv-backend c10d" in shell
    assert "-m tlstudio.cli train \"$DATA\" --project project.json --out \"$OUT\"" in shell
    assert "OUT=${OUT:-runs/My-birds}" in shell and "/opt/py/bin/python" in shell
    slurm = (out / cluster.SLURM_FILE).read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --gpus-per-node=4", "#SBATCH --time=12:00:00",
                 "--nnodes \"$SLURM_JOB_NUM_NODES\"", "--rdzv-id \"$RUN_ID\"", "srun "):
        assert line in slurm, line
    (out / cluster.TORCHRUN_FILE).write_text("mine")
    with pytest.raises(FileExistsError, match=cluster.TORCHRUN_FILE):
        cluster.write_cluster_files(project, plan, out)
    assert (out / cluster.TORCHRUN_FILE).read_text() == "mine"
    cluster.write_cluster_files(project, plan, out, overwrite=True)
    assert (out / cluster.TORCHRUN_FILE).read_text() == shell


def test_one_machine_script_is_valid_bash_and_standalone(tmp_path):
    out = tmp_path / "out"
    cluster.write_cluster_files(_project(tmp_path), cluster.ClusterPlan(gpus_per_node=2), out)
    for name in (cluster.TORCHRUN_FILE, cluster.SLURM_FILE):
        assert subprocess.run(["bash", "-n", str(out / name)]).returncode == 0, name
    shell = (out / cluster.TORCHRUN_FILE).read_text()
    assert "--standalone --nnodes 1 --nproc-per-node 2" in shell and "rdzv" not in shell
