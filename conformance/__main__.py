"""``python -m conformance``: see :mod:`conformance.runner`."""

import os
import sys

from conformance.runner import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:  # the reader went away (``| head``): not an error worth a traceback
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
sys.exit(code)
