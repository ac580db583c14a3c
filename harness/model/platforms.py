"""Which image of an index a single-image copy or inspect takes (containers/image 5.23's
``internal/pkg/platform`` and the indexes' ``ChooseInstance``).

The wanted platform is this machine's (Go's GOOS/GOARCH, and for arm the variant the
kernel reports) unless ``--override-arch``/``--override-os``/``--override-variant`` say
otherwise. Candidates are tried in order, each against every entry: an exact variant
first, then the older variants of the architecture it runs, then no variant at all;
without a wanted variant, no variant first, then every known variant. Nothing matching
is an error, never the first entry (an OCI index may still offer an entry without a
platform).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.model.descriptor import Descriptor, host_architecture
from harness.util.errors import HarnessError

# Variants from most capable to most compatible; architectures without variants are absent.
_COMPATIBILITY: Final = {"arm": ("v8", "v7", "v6", "v5"), "arm64": ("v8",)}
# /proc/cpuinfo's "CPU architecture" values -> variants (containers/image's getCPUVariantArm).
_ARM_VARIANTS: Final = {
    "8": "v8", "aarch64": "v8",
    "7": "v7", "7m": "v7", "?(12)": "v7", "?(13)": "v7", "?(14)": "v7", "?(15)": "v7",
    "?(16)": "v7", "?(17)": "v7",
    "6": "v6", "6tej": "v6",
    "5": "v5", "5t": "v5", "5te": "v5", "5tej": "v5",
    "4": "v4", "4t": "v4",
    "3": "v3",
}
CPUINFO: Final = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class PlatformChoice:
    """containers/image's ArchitectureChoice, OSChoice and VariantChoice: None (or empty)
    means this machine's."""

    architecture: str | None = None
    os: str | None = None
    variant: str | None = None

    def wanted(self) -> list[tuple[str, str, str]]:
        """(architecture, os, variant) candidates, the preferred first."""
        import platform  # noqa: PLC0415  (~2 ms; only choosing from an index asks)

        arch = self.architecture or host_architecture()
        # The host's variant only with the host's architecture: an --override-arch that
        # names this machine's still wants no particular variant.
        variant = self.variant or ("" if self.architecture else host_variant(arch))
        os_name = self.os or platform.system().lower()
        order = _COMPATIBILITY.get(arch, ())
        if variant:
            variants = [*(order[order.index(variant):] if variant in order else [variant]), ""]
        else:
            variants = ["", *order]
        return [(arch, os_name, v) for v in variants]


def host_variant(arch: str) -> str:
    """This machine's variant of *arch*: read from /proc/cpuinfo on arm, else none."""
    if arch not in ("arm", "arm64"):
        return ""
    try:
        lines = CPUINFO.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "cpu architecture":
            return _ARM_VARIANTS.get(value.strip().lower(), "")
    return ""


def choose_instance(entries: list[Descriptor], choice: PlatformChoice, *,
                    oci: bool) -> Descriptor:
    """The entry of an index (*oci*) or manifest list for *choice*; a HarnessError in
    containers/image's words when none fits."""
    wanted = choice.wanted()
    for arch, os_name, variant in wanted:
        for entry in entries:
            p = entry.platform
            if p is not None and (p.architecture, p.os, p.variant or "") == \
                    (arch, os_name, variant):
                return entry
    if oci:
        for entry in entries:
            if entry.platform is None:
                return entry
    arch, os_name, variant = wanted[0]
    kind = "image index" if oci else "manifest list"
    raise HarnessError(f"no image found in {kind} for architecture {arch}, variant "
                       f"{json.dumps(variant, ensure_ascii=False)}, OS {os_name}")
