"""The buildah/skopeo-like command line (``python -m harness``)."""
