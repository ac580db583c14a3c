"""Where the suite runs and what it selects: one :class:`Settings` value.

``python -m conformance`` builds it from its arguments and hands it to pytest as a plugin
object (:class:`SettingsPlugin`); xdist workers receive it through ``workerinput``. Plain
``pytest --pyargs conformance`` reads it from the environment (the OCI conformance suite's
``OCI_*`` variables and a few ``CONFORMANCE_*`` ones), so CI settings drive it the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.client import Target
from harness.model.access import OCI_VARIABLES, access_from
from harness.util.cli import is_true

GROUPS = ("pull", "push", "manifests", "digests", "tags", "referrers", "management", "auth",
          "e2e", "docker")

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
ENV_KEEP = "CONFORMANCE_KEEP"  # leave what the checks pushed


@dataclass(frozen=True)
class Settings:
    """Everything the suite needs to know about one run."""

    target: Target | None = None  # None: the embedded fake registry
    fake_profile: str = "spec"
    groups: tuple[str, ...] = GROUPS
    report_dir: Path | None = None
    """Where the controlling process writes results.json, junit.xml and report.html."""
    expect: Path | None = None
    """A known-deviations file."""
    keep: bool = False
    """Leave what the checks pushed on a registry the suite does not own (else deleted)."""

    @property
    def sweeps(self) -> bool:
        """Whether each check deletes what it pushed: on a registry given by URL (one the
        suite started is discarded whole), unless asked to keep it."""
        return self.target is not None and not self.target.isolate and not self.keep

    @property
    def name(self) -> str:
        return self.target.name if self.target else f"fake:{self.fake_profile}"

    def to_json(self) -> str:
        """For an xdist worker (``workerinput`` holds plain values only)."""
        return json.dumps({**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                           "target": self.target.to_plain() if self.target else None},
                          default=str)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data: dict[str, Any] = json.loads(text)
        target = Target.from_plain(data["target"]) if data["target"] else None
        return cls(target, data["fake_profile"], tuple(data["groups"]),
                   Path(data["report_dir"]) if data["report_dir"] else None,
                   Path(data["expect"]) if data["expect"] else None, bool(data["keep"]))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        profile = env.get(ENV_TARGET, "fake:spec").removeprefix("fake:")
        return cls(target_from(env), profile, selected_groups(env),
                   Path(env[ENV_REPORT_DIR]) if env.get(ENV_REPORT_DIR) else None,
                   Path(env[ENV_EXPECT]) if env.get(ENV_EXPECT) else None,
                   is_true(env.get(ENV_KEEP)))


# Where the suite reads a setting not given on the command line.
VARIABLES = {**OCI_VARIABLES, "token": ENV_TOKEN, "ca-file": ENV_CA_FILE,
             "insecure": ENV_INSECURE}


def target_from(env: Mapping[str, str], *, url: str | None = None,
                username: str | None = None, password: str | None = None,
                token: str | None = None, ca_file: Path | None = None, insecure: bool = False,
                namespace: str | None = None, crossmount_namespace: str | None = None,
                ask_password: Callable[[str], str | None] | None = None) -> Target | None:
    """The registry to check (None: none named), from the settings given (the command
    line's), each one not given read from *env*, by the project's one set of rules
    (:func:`harness.model.access.access_from`)."""
    url_name = "--registry" if url else "OCI_ROOT_URL"
    url = url or env.get("OCI_ROOT_URL")
    if not url:
        return None
    access = access_from(url, username=username, password=password, token=token,
                         ca_file=ca_file, insecure=insecure, env=env, variables=VARIABLES,
                         url_name=url_name, ask_password=ask_password)
    return Target(access, namespace or env.get("OCI_NAMESPACE") or "conformance/test",
                  crossmount_namespace or env.get("OCI_CROSSMOUNT_NAMESPACE")
                  or "conformance/other", env.get(ENV_NAME) or access.url,
                  is_true(env.get(ENV_ISOLATE)))


def selected_groups(env: Mapping[str, str]) -> tuple[str, ...]:
    """The groups to run: CONFORMANCE_GROUPS, else the OCI_TEST_* switches, else all."""
    if env.get(ENV_GROUPS):
        return tuple(g.strip() for g in env[ENV_GROUPS].split(",") if g.strip())
    switched = [g for name, groups in OCI_SWITCHES.items() if is_true(env.get(name))
                for g in groups]
    return tuple(g for g in GROUPS if g in switched) if switched else GROUPS


_WORKER_KEY = "conformance_settings"


class SettingsPlugin:
    """Hands :class:`Settings` to the suite in this process and to its xdist workers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKER_KEY] = self.settings.to_json()


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings: from the runner's plugin, else (on an xdist worker) from
    ``workerinput``, else (plain pytest) from the environment."""
    for given in config.pluginmanager.get_plugins():
        if isinstance(given, SettingsPlugin):
            return given.settings
    workerinput = getattr(config, "workerinput", {})
    if _WORKER_KEY in workerinput:
        return Settings.from_json(workerinput[_WORKER_KEY])
    return Settings.from_env()
