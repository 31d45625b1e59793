"""TL Studio's desktop front-end (PySide6 + matplotlib).

Panels edit the one ``Project`` held by ``state.ProjectState``; anything slow
(scanning, loading weights, a dummy forward, training) runs in a worker.
"""
from tlstudio.gui.singletons import keep_alive as _keep_alive

_keep_alive()      # before any Qt call: PySide6 6.12.0 on Python 3.11 leaks None/True references (singletons.py)
