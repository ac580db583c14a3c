"""``python -m harness``: the buildah/skopeo-like command line."""

from harness.cli.main import main
from harness.util.cli import exit_without_teardown


def _prepare_process() -> None:
    """Process-wide set-up for a command about to run. ``--version`` and ``--help`` exit
    while parsing, before this, and so skip importing ctypes and shutil (~4 ms).

    Registry sessions of this process use ``http.client``: importing requests and urllib3
    costs more than a small push (docs/registry-client.md). Only here: in-process callers
    of ``main`` keep requests, which the in-process fake registry reaches.
    """
    import signal  # noqa: PLC0415

    from harness.transports import httpclient  # noqa: PLC0415
    from harness.util.cleanup import remove_on_signals  # noqa: PLC0415
    from harness.util.memory import reuse_freed_buffers  # noqa: PLC0415

    httpclient.select(httpclient.STDLIB)
    reuse_freed_buffers()
    remove_on_signals(signal.SIGTERM, signal.SIGHUP)


exit_without_teardown(main(prepare=_prepare_process))
