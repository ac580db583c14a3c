"""The checks, one module per group; each test is one rule (its docstring)."""
