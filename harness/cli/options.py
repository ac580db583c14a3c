"""Flags turned into model values, once, for every command.

The spellings are skopeo's and buildah's: manifest formats (``oci``, ``v2s2``/``docker``,
``v2s1``), compression names, Go's boolean and duration syntax, and the registry flags
(``--creds``, ``--authfile``, ``--cert-dir``, ``--tls-verify``, ``--registry-token``,
``--no-creds``; ``copy`` spells each with ``--src-`` and ``--dest-``). A command module adds
flags with these helpers and reads them back as a :class:`SystemContext`, a MIME type, an
:class:`Algorithm` or a :class:`RetryPolicy`; none of it is written twice.

Every command's parser is built on every run (``--version`` too), so this module imports at
its top only argparse and light modules: the values flags turn into (:class:`Algorithm`,
:class:`SystemContext`, the docker transport's credentials parser) are imported by the
functions that build them, when a command runs (tests/builder/test_builder_startup.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from harness.model.mediatype import FORMAT_NAMES
from harness.util.cli import GoBool, ask_password
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.model.compression import Algorithm
    from harness.transports.types import Credentials, SystemContext
    from harness.util.retry import Retries

# The values of the Algorithm members a --compression flag may name (zstandard and isal,
# which harness.model.compression loads, stay unloaded until a command compresses).
COMPRESSION_NAMES: Final = ("gzip", "none", "zstd")
# buildah push and skopeo copy: oci, v2s1, v2s2; buildah commit: oci, docker.
TRANSFER_FORMATS: Final = ("oci", "v2s1", "v2s2")
COMMIT_FORMATS: Final = ("docker", "oci")
_TRUE: Final = frozenset({"1", "t", "T", "true", "TRUE", "True"})  # Go's strconv.ParseBool
_FALSE: Final = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """skopeo's global flags, given before the command as in ``skopeo --debug copy``."""
    parser.add_argument("--debug", action="store_true",
                        help="log every request and decision on stderr")
    parser.add_argument("--policy", type=Path, metavar="FILE", dest="global_policy",
                        help="signature policy file for every command (default: "
                             "/etc/containers/policy.json)")
    parser.add_argument("--insecure-policy", action="store_true",
                        help="accept any image, ignoring the signature policy")
    parser.add_argument("--command-timeout", type=duration, metavar="DURATION",
                        help="give up on the whole command after this long, e.g. 5m")
    for name, what in (("arch", "architecture"), ("os", "OS"), ("variant", "variant")):
        parser.add_argument(f"--override-{name}", metavar=what.upper(),
                            help=f"choose the image of an index for this {what}, not "
                                 "this machine's")


@contextlib.contextmanager
def global_settings(args: argparse.Namespace) -> Iterator[None]:
    """Apply the global flags for the command's run: logging, and ``--insecure-policy`` as a
    policy file that accepts anything (removed afterwards)."""
    with contextlib.ExitStack() as stack:
        if getattr(args, "debug", False):
            stack.enter_context(_debug_log())
        if getattr(args, "insecure_policy", False):
            import tempfile  # noqa: PLC0415

            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="oci-harness-policy-")))
            args.global_policy = directory / "policy.json"
            args.global_policy.write_text(json.dumps(
                {"default": [{"type": "insecureAcceptAnything"}]}))
        yield


@contextlib.contextmanager
def _debug_log() -> Iterator[None]:
    """Every logger's DEBUG records on stderr while the command runs."""
    import logging  # noqa: PLC0415

    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("DEBU %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def signature_policy(args: argparse.Namespace, given: Path | None) -> Path | None:
    """The command's own policy flag, else the global ``--policy``/``--insecure-policy``;
    ``--insecure-policy`` wins over both, as in skopeo."""
    if getattr(args, "insecure_policy", False):
        return args.global_policy  # type: ignore[no-any-return]
    return given or getattr(args, "global_policy", None)


def parse_bool(text: str) -> bool:
    """A boolean as Go's flag package reads one (``--tls-verify=false``)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def duration(text: str) -> float:
    """Seconds from a Go duration (``2s``, ``500ms``) or a number of seconds."""
    from harness.util.retry import parse_duration  # noqa: PLC0415

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def bool_flag(parser: argparse.ArgumentParser, *names: str, help_text: str,
              default: bool = True) -> None:
    """``--name`` or ``--name=BOOL`` (Go's flag style); *default* when absent."""
    parser.add_argument(*names, action=GoBool, type=parse_bool, nargs="?", default=default,
                        metavar="BOOL", help=f"{help_text} (default {str(default).lower()})")


def compression(name: str) -> Algorithm:
    """The :class:`Algorithm` a ``--compression``-like flag names (one of COMPRESSION_NAMES)."""
    from harness.model.compression import Algorithm  # noqa: PLC0415

    return Algorithm(name)


def manifest_type(name: str | None) -> str | None:
    """The MIME type a ``--format`` name stands for; None keeps the source's type."""
    return FORMAT_NAMES[name] if name else None


def add_registry_flags(parser: argparse.ArgumentParser, prefix: str = "", *,
                       skopeo: bool = False) -> None:
    """The flags that say how to reach a registry; *prefix* is ``src-`` or ``dest-``;
    *skopeo* adds skopeo's ``--username``/``--password``/``--no-creds``/``--registry-token``."""
    flag = f"--{prefix}"
    parser.add_argument(f"{flag}creds", metavar="USER[:PASSWORD]",
                        help="credentials for the registry; without :PASSWORD it is asked for "
                             "on the terminal")
    if skopeo:
        parser.add_argument(f"{flag}username", metavar="USER",
                            help="user name for the registry")
        parser.add_argument(f"{flag}password", metavar="PASSWORD",
                            help="password for the registry")
        parser.add_argument(f"{flag}no-creds", action="store_true",
                            help="access the registry anonymously")
        parser.add_argument(f"{flag}registry-token", metavar="TOKEN",
                            help="a Bearer token for the registry")
    if skopeo:
        parser.add_argument(f"{flag}daemon-host", metavar="HOST",
                            help="the Docker engine of docker-daemon: (default: DOCKER_HOST "
                                 "or the local socket)")
    parser.add_argument(f"{flag}authfile", type=Path, metavar="FILE",
                        help="auth file (default: $REGISTRY_AUTH_FILE, else "
                             "$XDG_RUNTIME_DIR/containers/auth.json)")
    parser.add_argument(f"{flag}cert-dir", type=Path, metavar="DIR",
                        help="certificates (*.crt, *.cert, *.key) for the registry")
    bool_flag(parser, f"{flag}tls-verify",
              help_text="require HTTPS and verify certificates")


def add_retry_flags(parser: argparse.ArgumentParser, *, buildah: bool) -> None:
    """buildah's ``--retry``/``--retry-delay`` or skopeo's ``--retry-times``."""
    if buildah:
        parser.add_argument("--retry", type=int, default=3, metavar="N",
                            help="retries of a failed push or pull (default 3)")
        parser.add_argument("--retry-delay", type=duration, default=2.0, metavar="DURATION",
                            help="delay between retries, e.g. 2s or 500ms (default 2s)")
    else:
        parser.add_argument("--retry-times", type=int, default=3, metavar="N",
                            help="retries of a failed copy (default 3)")
        parser.add_argument("--retry-delay", type=duration, default=2.0, metavar="DURATION",
                            help="delay between retries (not in skopeo 1.9; default 2s)")


def retry_budget(args: argparse.Namespace) -> Retries:
    """The command's one retry budget, warning on stderr as buildah does."""
    from harness.util.retry import RetryPolicy  # noqa: PLC0415

    times = args.retry if hasattr(args, "retry") else getattr(args, "retry_times", 3)
    policy = RetryPolicy(times, getattr(args, "retry_delay", 2.0),
                         deadline=getattr(args, "command_timeout", None) or None,
                         warn=sys.stderr)
    return policy.start()


def credentials(text: str, option: str = "--creds") -> Credentials:
    """``USER[:PASSWORD]``; a missing password is asked for on a terminal (as buildah does)
    and refused without one. ``USER:`` is an explicitly empty password."""
    from harness.transports.docker.credentials import parse_creds  # noqa: PLC0415
    from harness.transports.types import Credentials  # noqa: PLC0415

    parsed = parse_creds(text, option)
    if ":" in text:
        return parsed
    password = ask_password(parsed.username)
    if password is None:
        raise HarnessError(f"{option} {parsed.username}: no password given and no terminal "
                           f"to ask on: use {option} {parsed.username}:PASSWORD")
    return Credentials(parsed.username, password)


def _given(args: argparse.Namespace, prefix: str, name: str) -> object:
    return getattr(args, f"{prefix}{name}".replace("-", "_"), None)


def registry_context(args: argparse.Namespace, prefix: str = "",
                     retries: Retries | None = None) -> SystemContext:
    """The :class:`SystemContext` the registry flags (with *prefix*) describe, drawing on
    the command's retry budget *retries* (both ends of a copy share one).

    ``--authfile`` applies to both ends of a copy unless ``--src-``/``--dest-authfile``
    says otherwise, as in skopeo.
    """
    from harness.model.platforms import PlatformChoice  # noqa: PLC0415
    from harness.transports.types import Credentials, SystemContext  # noqa: PLC0415

    creds, username, password = (_given(args, prefix, n) for n in ("creds", "username",
                                                                       "password"))
    no_creds = bool(_given(args, prefix, "no-creds"))
    opt = f"--{prefix}"
    if creds and (username or password):
        raise HarnessError(f"{opt}creds and {opt}username/{opt}password cannot be used together")
    if no_creds and (creds or username or password):
        raise HarnessError(f"{opt}no-creds and credentials cannot be used together")
    if bool(username) != bool(password) and not creds:
        raise HarnessError(f"{opt}username and {opt}password must be given together")
    found: Credentials | None = None
    if isinstance(creds, str) and creds:
        found = credentials(creds, f"{opt}creds")
    elif isinstance(username, str) and isinstance(password, str):
        found = Credentials(username, password)
    auth_file = _given(args, prefix, "authfile") or getattr(args, "authfile", None)
    token = _given(args, prefix, "registry-token")
    daemon = _given(args, prefix, "daemon-host")
    return SystemContext(
        store_root=args.root,
        credentials=found,
        no_credentials=no_creds,
        registry_token=token if isinstance(token, str) else None,
        auth_file=auth_file if isinstance(auth_file, Path) else None,
        tls_verify=bool(_given(args, prefix, "tls-verify")),
        cert_dir=_cert_dir(_given(args, prefix, "cert-dir")),
        retries=retries,
        retry_times=retries.policy.times if retries is not None else 3,
        # docker_daemon.DAEMON_HOST_KEY, spelled here: importing the transport loads the SDK
        extra={"docker-daemon-host": daemon} if isinstance(daemon, str) else {},
        platform_choice=PlatformChoice(getattr(args, "override_arch", None),
                                       getattr(args, "override_os", None),
                                       getattr(args, "override_variant", None)),
    )


def _cert_dir(value: object) -> Path | None:
    return value if isinstance(value, Path) else None
