"""The command line: the same core as the GUI, headless, with terminal progress bars."""
from tlstudio.cli.commands import main

__all__ = ["main"]
