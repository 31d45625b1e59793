"""Worker jobs of the "Compare models" dialog: its candidates (and a saved leaderboard), and the comparison.

Listing the candidates asks the zoo where weights are (it imports torch and
builds model cards), so it runs in a worker like the comparison itself.
Results travel as plain dicts (``Leaderboard.to_dict()``).
"""
from __future__ import annotations


def candidates_job(project_dict: dict, board_path: str) -> dict:
    """Worker job: {"candidates": [[model, weights], ...] (the defaults), "board": the saved leaderboard or None}."""
    from tlstudio.core.compare.compare import default_candidates
    from tlstudio.core.compare.leaderboard import load_leaderboard
    from tlstudio.core.project import Project

    board = load_leaderboard(board_path)
    return {"candidates": [list(pair) for pair in default_candidates(Project.from_dict(project_dict))],
            "board": board.to_dict() if board is not None else None}


def compare_job(project_dict: dict, candidates: list[list[str]], board_path: str, on_row=None, job=None) -> dict:
    """Worker job: compare ``candidates`` ((model, weights) pairs) on the project's data; the leaderboard,
    saved at ``board_path`` after every candidate. ``on_row(CandidateResult)`` is called in the worker as
    each candidate finishes."""
    from tlstudio.core.compare.compare import compare_models
    from tlstudio.core.compare.leaderboard import load_leaderboard
    from tlstudio.core.project import Project

    board = compare_models(Project.from_dict(project_dict), [tuple(pair) for pair in candidates], job=job,
                           previous=load_leaderboard(board_path), save_to=board_path, on_row=on_row)
    return board.to_dict()
