"""Worker jobs of the Results tab: load and evaluate a run, predict one text (they run torch)."""
from __future__ import annotations

TOP_K = 3


def predict_text_job(loaded, text: str, top_k: int = TOP_K) -> list[dict]:
    """Worker job: the top classes of one text."""
    from tlstudio.core.runs.predict import predict_texts

    return predict_texts(loaded, [text], top_k)


def load_and_evaluate(run_dir: str, split: str, task=None):
    """Worker job: the run's model and its metrics on the recorded split.

    ``task`` (a TaskState) stops it between batches once a newer load supersedes it.
    """
    from tlstudio.core.progress import check
    from tlstudio.core.runs.evaluate import evaluate_run
    from tlstudio.core.runs.folder import load_model

    check(task)
    loaded = load_model(run_dir, device="cpu")
    check(task)
    result = evaluate_run(loaded, run_dir, split=split, task=task)
    return loaded, result
