"""``python -m harness``: the buildah/skopeo-like command line."""

import sys

from harness.cli.main import main
from harness.util.memory import reuse_freed_buffers

reuse_freed_buffers()
sys.exit(main())
