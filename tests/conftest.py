"""Shared test configuration: pytester for plugin tests."""

pytest_plugins = ["pytester"]
