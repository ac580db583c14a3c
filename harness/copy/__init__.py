"""The copy engine: moves an image from any ImageSource to any ImageDestination.

- :mod:`harness.copy.engine`: ``copy_image(dest, src, CopyOptions) -> CopyResult``; knows
  no transport and no manifest format (the model's ``ImageManifest`` converts itself).
- :mod:`harness.copy.plan`: the copy plan, decided once per image before any blob moves:
  which manifest types to try, in order, and how each layer travels for each.
- :mod:`harness.copy.blobcopy`: one blob read once, verified, (re)compressed and sent.
- :mod:`harness.copy.readahead`: the producer thread that lets that run on two cores.
- :mod:`harness.copy.policy`: policy.json (containers-policy.json(5)) applied to sources.
- :mod:`harness.copy.report`: containers/image's report lines and per-blob progress bars.
- :mod:`harness.copy.retry`: the whole copy again, on errors whose type says it may pass.
"""
