"""A plugin project written by the tests, in versions, and built into wheels.

``hello``: one node serving a greeting rendered from its spec, with a table of
its own. Version 2 adds a column and changes the template, so an upgrade shows
in the database and on the nodes.

A wheel is built the first time a test asks for it (:class:`Wheels`), once for the
whole session: the test processes share one directory of them, keyed by this file's
content, which is all that makes a version what it is (pip's isolated build costs
seconds a wheel).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from metapaas import sdk

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "metapaas-hello"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["metapaas"{extra_dependencies}]

[project.entry-points."metapaas.plugins"]
hello = "{entry_point}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
metapaas_hello = ["*.j2", "migrations/versions/*.py"]
"""

PACKAGE = '''\
"""A greeting service, version {version}."""

import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from metapaas import sdk

VERSION = "{version}"


class HelloSpec(BaseModel):
    greeting: str = Field(default="hello", max_length=100)


class Hello(sdk.PaasType):
    slug = "hello"
    title = "Hello"
    versions = (sdk.Version("1", default=True),)
    spec = HelloSpec
    migrations = Path(__file__).parent / "migrations" / "versions"

    def node_plan(self, instance: sdk.InstanceView) -> Sequence[sdk.NodeGroup]:
        return (sdk.NodeGroup("web", ports=(sdk.Port("http", 80),)),)

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        port = "{{{{ node.ports.http }}}}"
        return sdk.DataPlane(
            templates=(sdk.Template.from_package(__name__, "greeting.txt.j2", "greeting.txt"),),
            services=(
                sdk.Service(
                    "web",
                    argv=(sys.executable, "-m", "metapaas_hello.server", port, "greeting.txt"),
                ),
            ),
            health=(sdk.HealthCheck("http", target=f"http://127.0.0.1:{{port}}/", interval=1.0),),
        )
'''

SERVER = '''\
"""Serves the rendered greeting file; says which plugin version runs it."""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from metapaas_hello import VERSION


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (Path(sys.argv[2]).read_text() + f" (v{{VERSION}})").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''

MIGRATION = '''\
"""hello: {title}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''

MIGRATIONS = {
    "hello001": MIGRATION.format(
        title="notes table",
        revision="hello001",
        down=None,
        upgrade='op.create_table("hello_notes", sa.Column("id", sa.Integer(), primary_key=True))',
        downgrade='op.drop_table("hello_notes")',
    ),
    "hello002": MIGRATION.format(
        title="notes get a text",
        revision="hello002",
        down="hello001",
        upgrade='op.add_column("hello_notes", sa.Column("text", sa.Text(), nullable=True))',
        downgrade='with op.batch_alter_table("hello_notes") as batch:\n'
        '        batch.drop_column("text")',
    ),
    "failing": MIGRATION.format(
        title="a migration that fails",
        revision="hello002",
        down="hello001",
        upgrade='op.execute("ALTER TABLE hello_no_such_table ADD COLUMN x INTEGER")',
        downgrade="pass",
    ),
}


def write(
    root: Path,
    version: str,
    *,
    template: str = "{{ instance.spec.greeting }}, world",
    broken: str = "",
    extra_dependencies: tuple[str, ...] = (),
) -> Path:
    """Write version ``version`` of the project under ``root``; ``broken`` is one of
    "", "import" (the package fails to import), "migration" (its migration fails),
    "contract" (the entry point names something that is no PaaS type)."""
    project = root / f"hello-{version}-{broken or 'ok'}"
    package = project / "src" / "metapaas_hello"
    versions = package / "migrations" / "versions"
    versions.mkdir(parents=True)
    dependencies = "".join(f', "{d}"' for d in extra_dependencies)
    entry_point = "metapaas_hello:VERSION" if broken == "contract" else "metapaas_hello:Hello"
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(version=version, extra_dependencies=dependencies, entry_point=entry_point)
    )
    source = PACKAGE.format(version=version)
    if broken == "import":
        source = "import metapaas_no_such_module  # noqa\n" + source
    (package / "__init__.py").write_text(source)
    (package / "server.py").write_text(SERVER.format())
    (package / "greeting.txt.j2").write_text(template)
    (versions / "hello001.py").write_text(MIGRATIONS["hello001"])
    if broken == "migration":
        (versions / "hello002.py").write_text(MIGRATIONS["failing"])
    elif version != "1.0.0":
        (versions / "hello002.py").write_text(MIGRATIONS["hello002"])
    return project


def build_wheel(project: Path) -> Path:
    """``pip wheel`` the project into its ``dist/``, as an author would; returns the wheel."""
    into = project / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(into),
            str(project),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = into.glob("metapaas_hello-*.whl")
    return wheel


VERSIONS: dict[str, dict[str, Any]] = {
    "1": {"version": "1.0.0"},
    "2": {"version": "2.0.0", "template": "{{ instance.spec.greeting }}, planet"},
    "import": {"version": "2.1.0", "broken": "import"},
    "migration": {"version": "2.2.0", "broken": "migration"},
    "contract": {"version": "2.3.0", "broken": "contract"},
    # The runtime has pydantic 2: a plugin needing pydantic 1 needs another runtime.
    "conflict": {"version": "2.4.0", "extra_dependencies": ("pydantic<2",)},
}
"""The versions the tests install, by the name they use."""


class Wheels(Mapping[str, Path]):
    """The wheel of each of :data:`VERSIONS`, built on first use under ``root``, which
    processes may share (the builds take turns under a lock)."""

    def __init__(self, root: Path) -> None:
        content = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
        self._root = root / content

    def __getitem__(self, key: str) -> Path:
        with sdk.exclusive(self._root / ".lock"):
            built = sorted((self._root / key).glob("*/dist/metapaas_hello-*.whl"))
            if built:
                return built[0]
            return build_wheel(write(self._root / key, **VERSIONS[key]))

    def __iter__(self) -> Iterator[str]:
        return iter(VERSIONS)

    def __len__(self) -> int:
        return len(VERSIONS)


def shared_wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """The wheels of this test session, in the directory its worker processes share."""
    return Wheels(tmp_path_factory.getbasetemp().parent / "hello-wheels")
