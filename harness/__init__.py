"""oci-harness: commit and push container images the way buildah and containers/image do.

The package is layered; each folder depends only on those before it:
``util`` -> ``model`` -> ``store`` -> ``transports`` -> ``copy`` -> ``builder`` ->
``cli``, ``peers``, ``pytest_plugin`` and ``strategies``.
"""

__version__ = "0.1.0"
