"""Worker jobs of the Results tab: load and evaluate a run, predict one text, export a run (they run torch)."""
from __future__ import annotations

TOP_K = 3


def predict_text_job(loaded, text: str, top_k: int = TOP_K) -> list[dict]:
    """Worker job: the top classes of one text."""
    from tlstudio.core.runs.predict import predict_texts

    return predict_texts(loaded, [text], top_k)


def load_and_evaluate(run_dir: str, split: str | None, job=None):
    """Worker job: the run's model, its metrics on ``split`` (None: the first of what the run has) and
    ``evaluation_choices`` (what the run has, for the selector).

    ``job`` (a JobState) stops it between batches once a newer load supersedes it.
    """
    from tlstudio.core.progress import check
    from tlstudio.core.runs.evaluate import evaluate_run, evaluation_choices
    from tlstudio.core.runs.folder import load_model

    check(job)
    choices = evaluation_choices(run_dir)
    split = split or (choices[0][0] if choices else "val")
    loaded = load_model(run_dir, device="cpu")
    check(job)
    result = evaluate_run(loaded, run_dir, split=split, job=job)
    result["evaluated_on"] = split
    result["choices"] = choices
    if "targets" in result:         # a multi-label result: its N×L arrays are made here, not on the GUI thread
        from tlstudio.core.runs.label_set_evaluation import label_arrays

        result["arrays"] = label_arrays(result)
    return loaded, result


def export_job(kind: str, run_dir: str, target: str, sample_paths: list[str], job=None,
               precision: str = "fp32") -> dict:
    """Worker job: one export; returns {"kind", "path", "max_abs_diff" (None for a bundle), "samples",
    "precision", "report"} where "report" holds what the Export tab shows of the verification report:
    {"summary", "headers", "rows", "notes", "files"} (plain strings, so the GUI thread imports no torch)."""
    from tlstudio.core.progress import check
    from tlstudio.core.runs import export
    from tlstudio.core.runs.export_documents import document_paths
    from tlstudio.core.runs.folder import read_json

    if kind == "bundle":
        path = export.export_bundle(run_dir, target, job=job)
        report_file, card_file = document_paths(path, bundle=True)
        report = {**read_json(report_file, {}), "report_file": str(report_file), "card_file": str(card_file)}
        return {"kind": kind, "path": str(path), "max_abs_diff": None, "samples": None, "precision": "fp32",
                "report": report_view(report)}
    check(job)
    fn = export.export_torchscript if kind == "torchscript" else export.export_onnx
    # the save dialog has already asked before replacing a file; the core still refuses anything
    # that is not an earlier export of this kind
    result = fn(run_dir, target, sample_paths or None, force=True, precision=precision, job=job)
    return {"kind": kind, "path": result["path"], "max_abs_diff": float(result["max_abs_diff"]),
            "samples": result.get("samples"), "precision": precision, "report": report_view(result["report"])}


def report_view(report: dict) -> dict:
    """The verification report as the Export tab's table: summary line, headers, rows, notes, files."""
    from tlstudio.core.runs.export_report import summary_line, table_rows

    headers, rows = table_rows(report)
    notes = [f"{e['file']}: {e['method']}." for e in report.get("exports", [])
             if e.get("method") and e.get("precision") != "fp32"]
    notes += [f"{e['file']}: {w}" for e in report.get("exports", []) for w in e.get("warnings", [])]
    if report.get("note"):
        notes.append(report["note"])
    return {"summary": summary_line(report), "headers": headers, "rows": rows, "notes": notes,
            "warnings": sum(len(e.get("warnings", [])) for e in report.get("exports", [])),
            "files": [report.get("report_file", ""), report.get("card_file", "")]}
