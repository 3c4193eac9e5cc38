"""The ``metapaas`` command's tree: the runtime's groups and each installed provider's, built
at every start without the server stack (a client command starts fast)."""

from __future__ import annotations

import json
import subprocess
import sys

from metapaas.providers.declared import declared

SERVER_STACK = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "asyncssh"}
TREE = """
import json, sys
import typer
from metapaas.cli import app
commands = sorted(typer.main.get_group(app.build()).commands)
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"commands": commands, "loaded": loaded}))
"""


def test_the_tree_holds_every_providers_groups_and_loads_no_server() -> None:
    done = subprocess.run([sys.executable, "-c", TREE], capture_output=True, text=True, check=True)
    tree = json.loads(done.stdout)
    provided = {name for plugin in declared().plugins.values() for name in plugin.commands()}
    assert provided <= set(tree["commands"])
    assert {"list", "create", "plugins", "up"} <= set(tree["commands"])
    assert not SERVER_STACK & set(tree["loaded"])
