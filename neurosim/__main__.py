"""``python -m neurosim`` and the ``neurosim`` command: the command line (``neurosim.cli``).

``run`` imports the command line itself, so that a Ctrl-C during the start-up imports (about
a second of numpy, pandas and Numba) is answered like one later: one line, exit 130. It also
keeps numpy's large arrays on ordinary pages and freed memory for reuse, and freezes the
start-up's objects out of the garbage collector's scans (``neurosim._memory``): the imports',
and a sweep's model, traces and Numba set-up once made.
"""

import signal
import sys


def run() -> int:
    """Entry point of the ``neurosim`` console script."""
    try:
        from neurosim._memory import freeze_start_up, ordinary_pages, reuse_freed_memory

        # This process is ours: freed arrays are reused, no huge-page faults, and the imported
        # modules are left out of the garbage collector's scans (neurosim._memory).
        reuse_freed_memory()
        ordinary_pages()
        from neurosim.cli import main

        freeze_start_up()
        # A sweep freezes its start-up too (the model, traces and Numba's set-up), once made.
        code = main(started=freeze_start_up)
    except KeyboardInterrupt:
        print("neurosim: interrupted", file=sys.stderr)
        code = 130
    # Exiting now: a second Ctrl-C must not interrupt the clean-up (worker processes, files).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(run())
