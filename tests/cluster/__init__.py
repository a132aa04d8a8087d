"""The mixed-cluster tests (see README.md).

Unlike the other test folders this one is a package: its ``conftest.py`` would otherwise clash
with ``tests/conftest.py`` under mypy (two top-level modules named ``conftest``). pytest imports
these modules as ``cluster.<name>``.
"""
