"""The registry conformance suite (``python -m conformance``)."""
