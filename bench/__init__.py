"""Benchmarks of the project against its real peers; run them with ``python -m bench``."""
