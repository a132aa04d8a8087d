"""Shared pytest set-up for minisock's tests.

The test folders (unit, props, trio, integration, js) have no ``__init__.py``: pytest imports
each test module by its base name, so base names must be unique across folders, and tests
import the package as ``minisock`` from the editable install (``make`` runs ``pip install -e``).
Byte vectors live in ``tests/vectors/`` and are read relative to each test file.
"""
