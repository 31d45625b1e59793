"""Worker jobs of the Audit tab: audit a snapshot of the project, apply its relabels to the files
on disk, undo the latest apply. Each runs through ``tasks.run_task``, never on the GUI thread."""
from __future__ import annotations


def audit_job(project_dict: dict, job=None) -> dict:
    """Worker job: audit a snapshot of the project; the report as JSON (plus the keys of each finding)."""
    from tlstudio.core.insight.report import run_audit
    from tlstudio.core.project import Project

    report = run_audit(Project.from_dict(project_dict), job=job)
    out = report.to_json(similar=True)
    keys = report.data.keys
    for items, source in ((out["label_issues"], report.label_issues), (out["outliers"], report.outliers)):
        for item, finding in zip(items, source):
            item["key"] = keys[finding.index]
    return out


def apply_job(project_dict: dict, project_path: str) -> tuple[str, dict]:
    """Worker job: move relabelled images on disk; (undo record, the overrides left)."""
    from tlstudio.core.insight.actions import apply_to_disk
    from tlstudio.core.project import Project

    project = Project.from_dict(project_dict)
    record = apply_to_disk(project, project_path)
    return str(record), dict(project.data.label_overrides)


def undo_job(project_path: str) -> dict:
    """Worker job: undo the latest apply beside the project; the overrides to restore."""
    from tlstudio.core.errors import DatasetError
    from tlstudio.core.insight.actions import latest_undo_record, undo_apply

    record = latest_undo_record(project_path)
    if record is None:
        raise DatasetError("There is no change on disk to undo.")
    return undo_apply(record)
