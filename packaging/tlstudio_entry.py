"""Entry script of the frozen app. Both executables in the bundle run it.

`TLStudio` opens the GUI, `tlstudio-cli` runs the command line (chosen by the
executable's name), and `--self-test` on either runs tlstudio.selftest before
any GUI module is imported, so the self-test can pick the offscreen Qt platform.
"""
import multiprocessing
import os
import sys


def main() -> int:
    # Data loader workers re-run this executable on Windows/macOS (spawn): let them.
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if "--self-test" in args:
        from tlstudio.selftest import main as self_test

        return self_test([a for a in args if a != "--self-test"])
    name = os.path.splitext(os.path.basename(sys.executable))[0].lower()
    if name.startswith("tlstudio-cli"):
        from tlstudio.cli import main as cli_main

        return cli_main(args)
    from tlstudio.gui.app import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())
