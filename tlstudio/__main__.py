"""``python -m tlstudio [PROJECT_FILE] [--demo]`` opens the desktop app."""
import sys

from tlstudio.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
