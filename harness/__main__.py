"""``python -m harness``: the buildah/skopeo-like command line."""

import sys

from harness.cli.main import main

sys.exit(main())
