"""The names a training setting can take, importable without torch (the Train tab lists them)."""

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "plateau")
