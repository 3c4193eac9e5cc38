"""``python -m metapaas.cli``: the same as the ``metapaas`` command."""

from metapaas.cli.main import main

main()
