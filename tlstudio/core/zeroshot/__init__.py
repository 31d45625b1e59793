"""Zero labels: classifiers from class names alone (prototypes.py, text_zero_shot.py, clip_zero_shot.py)
and their run on a project's data (run.py)."""
