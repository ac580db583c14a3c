"""Retrying a whole copy (skopeo's ``--retry-times``, buildah's ``--retry``).

Within one attempt the registry client already retries single requests; both draw on the
same :class:`~harness.util.retry.Retries` budget (the operation's, put into both contexts
here), so retries never multiply. This loop starts the copy again when it failed for a
reason that may pass: a connection that broke, a 5xx or a 429. Anything else (a 4xx, a
digest mismatch, a policy refusal, nothing listening on the first contact) fails at once.
Blobs that made it in an earlier attempt are found and reused.

A layer upload that broke beyond what the registry client can resume is not one of those
reasons: the copy engine has already copied that layer again from its source,
``dest_ctx.retry_times`` times (see :func:`harness.copy.blobcopy.copy_blob`), and starting the
whole copy over would multiply that bound.
"""

from __future__ import annotations

from dataclasses import replace

from harness.copy.engine import CopyOptions, CopyResult, copy_image
from harness.transports.types import ImageReference, TransientError
from harness.util.errors import HarnessError
from harness.util.retry import Retries


def may_pass(exc: HarnessError) -> bool:
    """Whether trying the whole copy again can help: decided on the error's type, which
    transports choose (:class:`TransientError`: a registry unreachable, a 5xx or a 429)."""
    return isinstance(exc, TransientError)


def copy_with_retries(dest: ImageReference, src: ImageReference, options: CopyOptions,
                      retries: Retries | None = None) -> CopyResult:
    """:func:`copy_image`, tried again while *retries* (default: the destination context's
    budget, ``retry_times`` retries ``retry_delay`` apart) allow."""
    budget = retries or options.dest_ctx.retry_budget()
    options = replace(options, source_ctx=replace(options.source_ctx, retries=budget),
                      dest_ctx=replace(options.dest_ctx, retries=budget))
    while True:
        try:
            return copy_image(dest, src, options)
        except HarnessError as exc:
            if not may_pass(exc) or not budget.again(str(exc)):
                raise
