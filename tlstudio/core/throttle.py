"""ProgressClock: lets progress reports through at most once per interval.

One mechanism for the trainer's batch events, feature extraction and the
GUI's task progress. The report that ends a pass always goes through.
Torch-free, so the GUI can use it without importing the engine.
"""
from __future__ import annotations

import math
import time
from typing import Callable


class ProgressClock:
    def __init__(self, interval: float, clock: Callable[[], float] = time.perf_counter):
        self.interval = interval
        self.clock = clock
        self.last = -math.inf

    def due(self, final: bool = False) -> bool:
        now = self.clock()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False
