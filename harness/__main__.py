"""``python -m harness``: the buildah/skopeo-like command line."""

import signal
import sys

from harness.cli.main import main
from harness.util.cleanup import remove_on_signals
from harness.util.memory import reuse_freed_buffers

reuse_freed_buffers()
remove_on_signals(signal.SIGTERM, signal.SIGHUP)
sys.exit(main())
