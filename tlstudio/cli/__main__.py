import sys

from tlstudio.cli import main

sys.exit(main())
