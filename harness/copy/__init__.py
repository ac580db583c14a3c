"""The copy engine: moves an image from any ImageSource to any ImageDestination.

- :mod:`harness.copy.engine`: ``copy_image(dest, src, CopyOptions) -> CopyResult``.
- :mod:`harness.copy.plan`: which manifest types to try, and when to fall back.
- :mod:`harness.copy.blobcopy`: one blob read once, verified, (re)compressed and sent.
- :mod:`harness.copy.readahead`: the producer thread that lets that run on two cores.
- :mod:`harness.copy.policy`: policy.json (containers-policy.json(5)) applied to sources.
- :mod:`harness.copy.report`: containers/image's report lines and per-blob progress bars.
"""
