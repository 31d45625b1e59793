"""The names of a run folder's files (torch-free, imports nothing of the app but the lock's name).

``RunFolder`` (run_folder.py) is the one owner of the layout and re-exports these names; the
run states (status.py) read them from here so that the two modules do not import each other.
"""
from tlstudio.core.runs.lock import LOCK_NAME

PROJECT = "project.json"          # the Project as run (what the search chose written back into it)
SPLIT = "split.json"              # train / val / test rows
MODEL = "model.json"              # how to rebuild the network; names the weights file
BEST = "best.safetensors"         # the best epoch's weights
LAST = "last.pt"                  # the resume point
HISTORY = "history.json"          # one entry per epoch
METRICS = "metrics.json"          # the final figures
STATE = "run_state.json"          # running / complete / cancelled / failed (written last)
SEARCH = "search.json"            # the head search's candidates and winner
HELDOUT = "heldout_predictions.json"   # out-of-fold predictions of a searched head
SEARCH_CURVES = "search_curves.json"   # every candidate's held-out curves, the winner, the refit's loss
TEXT_MODEL = "text_model"         # a text run's copy of its tokenizer and config files
# Every file the trainer writes (plus atomic.py's temporary files of them) and the one folder.
FILES = frozenset({PROJECT, SPLIT, MODEL, BEST, LAST, HISTORY, METRICS, STATE, SEARCH, HELDOUT, SEARCH_CURVES, LOCK_NAME})
FOLDERS = frozenset({TEXT_MODEL})
