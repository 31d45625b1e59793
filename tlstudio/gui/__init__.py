"""TL Studio's desktop front-end (PySide6 + matplotlib).

Panels edit the one ``Project`` held by ``state.ProjectState``; anything slow
(scanning, loading weights, a dummy forward, training) runs in a worker.
"""
