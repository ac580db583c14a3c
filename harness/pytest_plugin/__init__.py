"""The pytest plugin (entry point ``pytest11``): fixtures, markers, assertion helpers."""
