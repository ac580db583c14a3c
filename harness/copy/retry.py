"""Retrying a whole copy (skopeo's ``--retry-times``, buildah's ``--retry``).

Within one attempt the registry client already retries single requests; this outer loop
starts the copy again when it failed for a reason that may pass: the registry
unreachable, a 5xx or a 429. Anything else (a 4xx, a digest mismatch, a policy refusal)
fails at once. Blobs that made it in an earlier attempt are found and reused.

A layer upload that broke beyond what the registry client can resume is not one of those
reasons: the copy engine has already copied that layer again from its source,
``dest_ctx.retry_times`` times (see :func:`harness.copy.blobcopy.copy_blob`), and starting the
whole copy over would multiply that bound.
"""

from __future__ import annotations

import time

from harness.copy.engine import CopyOptions, CopyResult, copy_image
from harness.transports.types import ImageReference, TransientError
from harness.util.errors import HarnessError


def may_pass(exc: HarnessError) -> bool:
    """Whether trying the whole copy again can help: a transient failure, or an error that
    carries an HTTP status of 5xx or 429 (a registry's refusal, whatever the transport)."""
    if isinstance(exc, TransientError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and (status >= 500 or status == 429)


def copy_with_retries(dest: ImageReference, src: ImageReference, options: CopyOptions, *,
                      retries: int, delay: float) -> CopyResult:
    """:func:`copy_image`, tried again up to *retries* times, *delay* seconds apart."""
    attempt = 0
    while True:
        try:
            return copy_image(dest, src, options)
        except HarnessError as exc:
            attempt += 1
            if attempt > retries or not may_pass(exc):
                raise
            time.sleep(delay)
