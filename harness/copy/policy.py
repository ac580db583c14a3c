"""Signature policy: ``policy.json`` (containers-policy.json(5)) parsed strictly and applied
to the source of a copy, as containers/image's ``signature.PolicyContext`` does.

Requirements are looked up by the source reference's most specific scope, then its less
specific ones, then the transport's ``""`` scope, then ``default``; every requirement of
the chosen list must accept. This project verifies no signatures, so ``signedBy``,
``sigstoreSigned`` and ``signedBaseLayer`` refuse the copy with a "not supported" error
instead of letting an unverified image through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.transports.types import ImageReference, Transport
from harness.util.errors import HarnessError

SYSTEM_POLICY = Path("/etc/containers/policy.json")
ACCEPT = "insecureAcceptAnything"
REJECT = "reject"
UNSUPPORTED = frozenset({"signedBy", "sigstoreSigned", "signedBaseLayer"})
_HINT = ('create it, e.g. {"default": [{"type": "insecureAcceptAnything"}]}, '
         "or name another file with --policy (skopeo) or --signature-policy (push)")


class PolicyError(HarnessError):
    """policy.json is missing or malformed."""


class PolicyRejectedError(HarnessError):
    """The policy does not allow the image."""


@dataclass(frozen=True)
class Requirement:
    """One policy requirement; only its type matters to what this project enforces."""

    type: str


@dataclass(frozen=True)
class Policy:
    """A policy.json (containers-policy.json(5)): the default requirements, and those of
    each transport's scopes."""

    default: tuple[Requirement, ...]
    transports: dict[str, dict[str, tuple[Requirement, ...]]]

    def requirements_for(self, ref: ImageReference) -> tuple[Requirement, ...]:
        """The requirement list of the most specific scope that matches *ref*."""
        scopes = self.transports.get(ref.transport.name)
        if scopes is not None:
            for scope in (ref.policy_configuration_identity(),
                          *ref.policy_configuration_namespaces(), ""):
                if scope in scopes:
                    return scopes[scope]
        return self.default

    def check(self, ref: ImageReference) -> None:
        """Raise unless every requirement for *ref* accepts it."""
        for requirement in self.requirements_for(ref):
            if requirement.type == REJECT:
                raise PolicyRejectedError(f"image {ref} is rejected by the signature policy")
            if requirement.type in UNSUPPORTED:
                raise PolicyRejectedError(
                    f"image {ref}: policy requirement {requirement.type!r} is not supported "
                    "(this tool verifies no signatures)")


def default_policy_path() -> Path:
    """``~/.config/containers/policy.json`` when it exists, else the system file."""
    user = Path.home() / ".config" / "containers" / "policy.json"
    return user if user.exists() else SYSTEM_POLICY


def load_policy(path: Path | None, transports: Mapping[str, Transport]) -> Policy:
    """Read and validate *path* (or the default file); scopes are checked per transport."""
    path = path or default_policy_path()
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise PolicyError(f"no signature policy at {path}: {_HINT}") from None
    except ValueError as exc:
        raise PolicyError(f"{path}: invalid JSON: {exc}") from None
    return parse_policy(data, transports, str(path))


def parse_policy(data: Any, transports: Mapping[str, Transport], where: str = "policy") -> Policy:
    """Validate decoded policy.json; unknown keys are errors, as in containers/image."""
    obj = _object(data, where, {"default", "transports"})
    if "default" not in obj:
        raise PolicyError(f"{where}: 'default' policy is missing")
    default = _requirements(obj["default"], f"{where}: default")
    scoped: dict[str, dict[str, tuple[Requirement, ...]]] = {}
    for name, scopes in _object(obj.get("transports", {}), f"{where}: transports").items():
        transport = transports.get(name)
        scoped[name] = {}
        for scope, reqs in _object(scopes, f"{where}: transports.{name}").items():
            if scope and transport is not None:
                try:
                    transport.validate_policy_configuration_scope(scope)
                except HarnessError as exc:
                    raise PolicyError(f"{where}: {exc}") from None
            scoped[name][scope] = _requirements(reqs, f"{where}: transports.{name}[{scope!r}]")
    return Policy(default, scoped)


def _object(value: Any, where: str, keys: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where} must be a JSON object")
    if keys is not None and (unknown := set(value) - keys):
        raise PolicyError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    return value


_KEYS = {
    ACCEPT: {"type"},
    REJECT: {"type"},
    "signedBy": {"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"},
    "sigstoreSigned": {"type", "keyPath", "keyData", "fulcio", "rekorPublicKeyPath",
                       "rekorPublicKeyData", "signedIdentity"},
    "signedBaseLayer": {"type", "baseLayerIdentity"},
}


def _requirements(value: Any, where: str) -> tuple[Requirement, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(f"{where} must be a non-empty list of requirements")
    out = []
    for number, item in enumerate(value):
        kind = _object(item, f"{where}[{number}]").get("type")
        if kind not in _KEYS:
            raise PolicyError(f"{where}[{number}]: unknown requirement type {kind!r}; known: "
                              f"{', '.join(sorted(_KEYS))}")
        _object(item, f"{where}[{number}]", _KEYS[kind])
        out.append(Requirement(kind))
    return tuple(out)
