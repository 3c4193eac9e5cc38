"""What a provider distribution's commands use of the ``metapaas`` command: its one import.

A provider's :meth:`~metapaas.providers.ProviderPlugin.commands` returns Typer
groups; their commands reach the server with :func:`connect` (the profile or
``METAPAAS_URL``/``METAPAAS_TOKEN`` the user chose, as every command does) and
print with the helpers here: answers on stdout as a table, JSON or YAML
(``-o``), everything else on stderr, a :class:`UserError` as one ``error:`` line.
"""

from metapaas.cli.instances import TimeoutOpt, YesOpt, confirm
from metapaas.cli.output import (
    Column,
    Format,
    OutputOpt,
    UserError,
    console,
    show_list,
    show_one,
    status_console,
)
from metapaas.cli.profiles import connect

__all__ = [
    "Column",
    "Format",
    "OutputOpt",
    "TimeoutOpt",
    "UserError",
    "YesOpt",
    "confirm",
    "connect",
    "console",
    "show_list",
    "show_one",
    "status_console",
]
