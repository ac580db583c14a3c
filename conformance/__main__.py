"""``python -m conformance``: see :mod:`conformance.runner`."""

import sys

from conformance.runner import main

sys.exit(main())
