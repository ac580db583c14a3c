"""Which containers/storage store a reference means, resolved as containers/storage does.

Precedence, highest first: the reference's ``[driver@root+runroot:options]``; the
``STORAGE_DRIVER`` environment variable; the configuration file
(``$CONTAINERS_STORAGE_CONF``, else ``$XDG_CONFIG_HOME/containers/storage.conf`` when it
exists, else ``/etc/containers/storage.conf`` when it exists, else
``/usr/share/containers/storage.conf``); the built-in defaults
(``/var/lib/containers/storage`` and ``/run/containers/storage`` for root,
``~/.local/share/containers/storage`` and ``$XDG_RUNTIME_DIR/containers`` for others).
A store with no driver named anywhere uses the one whose directory it already holds.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from harness.model.transportref import StorageSpec
from harness.util.errors import HarnessError

CONF_ENV = "CONTAINERS_STORAGE_CONF"
SYSTEM_CONF = Path("/usr/share/containers/storage.conf")
OVERRIDE_CONF = Path("/etc/containers/storage.conf")


class StorageConfError(HarnessError):
    """The storage configuration cannot be read or names no usable store."""


@dataclass(frozen=True)
class StoreOptions:
    """A store: its driver ("" until known), graph root and run root.

    Driver options (``:opts`` of a reference, ``STORAGE_OPTS``) only tune mounting, which
    this project never does, so they are not kept."""

    driver: str
    graph_root: Path
    run_root: Path


def config_file(environ: dict[str, str] | None = None) -> Path:
    """The storage.conf containers/storage reads (it need not exist)."""
    env = os.environ if environ is None else environ
    if CONF_ENV in env:
        return Path(env[CONF_ENV])
    if xdg := env.get("XDG_CONFIG_HOME"):
        user = Path(xdg) / "containers" / "storage.conf"
        if user.exists():
            return user
    return OVERRIDE_CONF if OVERRIDE_CONF.exists() else SYSTEM_CONF


def _defaults(environ: dict[str, str]) -> StoreOptions:
    if os.geteuid() == 0:
        return StoreOptions("", Path("/var/lib/containers/storage"),
                            Path("/run/containers/storage"))
    home = Path(environ.get("HOME") or Path.home())
    runtime = environ.get("XDG_RUNTIME_DIR") or f"/tmp/containers-user-{os.geteuid()}"
    return StoreOptions("", home / ".local/share/containers/storage",
                        Path(runtime) / "containers")


def _from_file(path: Path, base: StoreOptions) -> StoreOptions:
    try:
        with path.open("rb") as f:
            table = tomllib.load(f).get("storage", {})
    except FileNotFoundError:
        return base
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StorageConfError(f"cannot read storage configuration {path}: {exc}") from None
    if not isinstance(table, dict):
        raise StorageConfError(f"storage configuration {path}: [storage] is not a table")
    return StoreOptions(
        driver=str(table.get("driver") or base.driver),
        graph_root=Path(table["graphroot"]) if table.get("graphroot") else base.graph_root,
        run_root=Path(table["runroot"]) if table.get("runroot") else base.run_root,
    )


def resolve(spec: StorageSpec | None, environ: dict[str, str] | None = None) -> StoreOptions:
    """The store a ``containers-storage:`` reference with *spec* (or none) means."""
    env = dict(os.environ if environ is None else environ)
    options = _from_file(config_file(env), _defaults(env))
    if env.get("STORAGE_DRIVER"):
        options = replace(options, driver=env["STORAGE_DRIVER"])
    if spec is not None:
        options = replace(
            options,
            driver=spec.driver or options.driver,
            graph_root=Path(spec.root) if spec.root else options.graph_root,
            run_root=Path(spec.run_root) if spec.run_root else options.run_root,
        )
    return options
