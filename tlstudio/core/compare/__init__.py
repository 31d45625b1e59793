"""Compare pretrained models on the project's data: a leaderboard of accuracy, speed and size.

``compare.py`` runs the comparison (features through the cache, the searched head, the
measurements), ``measure.py`` measures a model's cost, ``leaderboard.py`` holds the result
(rows, Pareto front, JSON, text table) and is torch-free.
"""
