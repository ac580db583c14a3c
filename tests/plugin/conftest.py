"""Imported before pytester snapshots ``sys.modules``: the inner runs then share these
modules (and their classes) with the plugin instead of importing second copies."""

import harness.copy.engine
import harness.pytest_plugin.assertions
import harness.pytest_plugin.images
import harness.pytest_plugin.registries
import harness.pytest_plugin.trees
import harness.strategies
import harness.transports.alltransports  # noqa: F401
