import sys

from tlstudio.cli.commands import main

sys.exit(main())
