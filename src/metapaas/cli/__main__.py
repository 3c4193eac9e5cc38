"""``python -m metapaas.cli``: the same as the ``metapaas`` command."""

from metapaas.cli.app import main

main()
