"""The root of every error the project raises on purpose.

The CLIs catch :class:`HarnessError` and print its message as one line; anything else
is a bug and shows a traceback.
"""


class HarnessError(Exception):
    """An error whose message is meant for the user: it says what was wrong and why."""
