"""Fixtures of the ssh provider's tests.

The API over the shared test databases (``api``), the ``metapaas`` command runner
(``cli``) and the browser (``browser``) are the core's own test fixtures
(``tests/conftest.py``, ``tests/cli/conftest.py``, ``tests/console/conftest.py``):
these tests run from the repository's root, as ``make test`` runs them, and the
shared databases have this provider's tables as every installed provider's. The
machines are a :class:`hostlab.HostLab`'s.
"""

from tests.cli.conftest import cli
from tests.conftest import _postgresql_database, _sqlite_database, api, make_api, shared_database
from tests.console.conftest import browser

__all__ = [
    "_postgresql_database",
    "_sqlite_database",
    "api",
    "browser",
    "cli",
    "make_api",
    "shared_database",
]
