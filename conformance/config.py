"""Where the suite runs: read from the environment, so that ``pytest --pyargs conformance``,
the runner and the OCI conformance suite's CI settings all drive it the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from conformance.client import Target

GROUPS = ("pull", "push", "manifests", "digests", "tags", "referrers", "management", "e2e",
          "docker")

# The OCI suite's switches and the groups each one enables here.
OCI_SWITCHES = {
    "OCI_TEST_PULL": ("pull", "digests", "manifests"),
    "OCI_TEST_PUSH": ("push",),
    "OCI_TEST_CONTENT_DISCOVERY": ("tags", "referrers"),
    "OCI_TEST_CONTENT_MANAGEMENT": ("management",),
}

ENV_TARGET = "CONFORMANCE_TARGET"  # "fake:PROFILE" (default fake:spec) when no OCI_ROOT_URL
ENV_GROUPS = "CONFORMANCE_GROUPS"  # comma-separated
ENV_EXPECT = "CONFORMANCE_EXPECT"  # a known-deviations file
ENV_REPORT_DIR = "CONFORMANCE_REPORT_DIR"
ENV_TOKEN = "CONFORMANCE_TOKEN"
ENV_CA_FILE = "CONFORMANCE_CA_FILE"
ENV_INSECURE = "CONFORMANCE_INSECURE"
ENV_NAME = "CONFORMANCE_TARGET_NAME"
ENV_ISOLATE = "CONFORMANCE_ISOLATE"


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the suite reads from its environment."""

    target: Target | None  # None: the embedded fake registry
    fake_profile: str
    groups: tuple[str, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        url = env.get("OCI_ROOT_URL")
        target = None
        profile = env.get(ENV_TARGET, "fake:spec").removeprefix("fake:")
        if url:
            ca_file = env.get(ENV_CA_FILE)
            verify: bool | str = ca_file or not is_true(env.get(ENV_INSECURE))
            target = Target(
                url=url, namespace=env.get("OCI_NAMESPACE") or "conformance/test",
                crossmount_namespace=env.get("OCI_CROSSMOUNT_NAMESPACE") or "conformance/other",
                username=env.get("OCI_USERNAME") or None,
                password=env.get("OCI_PASSWORD") or None, token=env.get(ENV_TOKEN) or None,
                verify=verify, name=env.get(ENV_NAME) or url,
                isolate=is_true(env.get(ENV_ISOLATE)))
        return cls(target, profile, selected_groups(env))


def selected_groups(env: Mapping[str, str]) -> tuple[str, ...]:
    """The groups to run: CONFORMANCE_GROUPS, else the OCI_TEST_* switches, else all."""
    if env.get(ENV_GROUPS):
        return tuple(g.strip() for g in env[ENV_GROUPS].split(",") if g.strip())
    switched = [g for name, groups in OCI_SWITCHES.items() if is_true(env.get(name))
                for g in groups]
    return tuple(g for g in GROUPS if g in switched) if switched else GROUPS
