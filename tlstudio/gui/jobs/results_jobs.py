"""Worker jobs of the Results tab: load and evaluate a run, predict one text (they run torch)."""
from __future__ import annotations

TOP_K = 3


def predict_text_job(loaded, text: str, top_k: int = TOP_K) -> list[dict]:
    """Worker job: the top classes of one text."""
    from tlstudio.core.runs.predict import predict_texts

    return predict_texts(loaded, [text], top_k)


def load_and_evaluate(run_dir: str, split: str | None, task=None):
    """Worker job: the run's model, its metrics on ``split`` (None: the first of what the run has) and
    ``evaluation_choices`` (what the run has, for the selector).

    ``task`` (a TaskState) stops it between batches once a newer load supersedes it.
    """
    from tlstudio.core.progress import check
    from tlstudio.core.runs.evaluate import evaluate_run, evaluation_choices
    from tlstudio.core.runs.folder import load_model

    check(task)
    choices = evaluation_choices(run_dir)
    split = split or (choices[0][0] if choices else "val")
    loaded = load_model(run_dir, device="cpu")
    check(task)
    result = evaluate_run(loaded, run_dir, split=split, task=task)
    result["evaluated_on"] = split
    result["choices"] = choices
    return loaded, result
