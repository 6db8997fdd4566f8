"""The load tester: ``reward loadtest`` (see :mod:`loadtest.cli` and docs/loadtest.md)."""
