"""Hypothesis settings shared by the model's property tests.

Under CI load (two cores shared by xdist workers) generation and schema1 signing can be
slow; speed is not what these properties claim, so no deadline and no too_slow check.
"""

from hypothesis import HealthCheck, settings

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
