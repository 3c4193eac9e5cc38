"""The runtime bundle a remote provider's hosts run, and unpacking it on a host.

The runtime's own bundle is built twice (two homes, about 4 s each) and
unpacked once, then run by ``/usr/bin/python3``, a bare system interpreter.
What a build does with editable sources, ``RECORD`` files, extras and the
cache is shown on small distributions written by the tests themselves.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import Distribution
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from metapaas.bundle import build as bundle_module
from metapaas.bundle import unpack as unpack_module
from metapaas.bundle.build import (
    RUNTIME_SITE,
    Bundle,
    bundle_of,
    runtime_bundle,
    runtime_distributions,
)
from metapaas.bundle.unpack import UnsafeArchive, unpack

SYSTEM_PYTHON = Path("/usr/bin/python3")
DEV_ONLY = {"pytest", "mypy", "ruff", "schemathesis", "playwright"}
BUNDLED_TYPES = ["demo", "postgres", "redis", "s3"]
TIMEOUT = 120.0
MINOR = "{}.{}".format(*sys.version_info[:2])


def system_python_minor() -> str | None:
    if not SYSTEM_PYTHON.is_file():
        return None
    result = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print('{}.{}'.format(*sys.version_info[:2]))"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return result.stdout.strip()


needs_system_python = pytest.mark.skipif(
    system_python_minor() != MINOR,
    reason=f"{SYSTEM_PYTHON} is missing or not Python {MINOR}",
)


def members(archive: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(archive) as tar:
        return tar.getmembers()


def read_member(archive: Path, name: str) -> str:
    with tarfile.open(archive) as tar:
        source = tar.extractfile(name)
        assert source is not None
        return source.read().decode()


# -- the runtime's own bundle -----------------------------------------------------


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return runtime_bundle(tmp_path_factory.mktemp("home"))


def test_the_bundle_is_named_by_its_digest_and_the_same_in_another_home(
    runtime: Bundle, tmp_path: Path
) -> None:
    again = runtime_bundle(tmp_path)

    assert again.digest == runtime.digest
    assert again.path == tmp_path / "bundles" / f"{runtime.digest}.tar.gz"
    assert again.path.read_bytes() == runtime.path.read_bytes()
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == again.digest


def test_the_archive_has_sorted_plain_files_with_no_time_owner_or_cache(runtime: Bundle) -> None:
    found = members(runtime.path)
    names = [member.name for member in found]

    assert names == sorted(names)
    assert all(member.isfile() for member in found)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in found} == {(0, 0, 0, "", "")}
    assert {member.mode for member in found} == {0o644, 0o755}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pth"))]
    assert not [n for n in names if "/tests/" in n or n.startswith(("../", "/", "bin/"))]
    header = runtime.path.read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0", "the gzip header carries no time"
    assert not header[3] & 0x08, "the gzip header carries no file name"


def test_the_bundle_holds_the_runtime_and_its_plugins_but_nothing_for_developers(
    runtime: Bundle,
) -> None:
    bundled = {canonicalize_name(dist.metadata["Name"]) for dist in runtime_distributions()}
    dist_infos = {m.name.split("/")[0] for m in members(runtime.path) if ".dist-info/" in m.name}

    assert {"metapaas", "metapaas-redis", "metapaas-postgres", "metapaas-s3"} <= bundled
    assert {"pydantic-core", "httpx", "jinja2", "redis", "boto3"} <= bundled
    assert "psycopg-binary" in bundled, "psycopg[binary] names the extra: it is followed"
    assert not bundled & DEV_ONLY
    assert len(dist_infos) == len(bundled)
    assert not {canonicalize_name(info.split("-")[0]) for info in dist_infos} & DEV_ONLY
    tops = {m.name.split("/")[0].removesuffix(".py") for m in members(runtime.path)}
    assert not tops & (DEV_ONLY | {"_pytest"})


@needs_system_python
def test_the_system_python_runs_the_agent_and_finds_every_bundled_type(
    runtime: Bundle, tmp_path: Path
) -> None:
    target = tmp_path / "runtime"
    unpack(runtime.path, target)

    # -S keeps the system's dist-packages (it has cryptography, yaml...) off sys.path,
    # so only the bundle can answer; -E would drop PYTHONPATH, so the environment is
    # given whole instead.
    def run(*args: str) -> str:
        environment = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
        result = subprocess.run(
            [str(SYSTEM_PYTHON), "-s", "-S", *args],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "--url URL" in run("-m", "metapaas.agent", "--help")
    listing = run(
        "-c",
        "import metapaas_redis.node, metapaas_postgres, metapaas_s3, metapaas_demo;"
        " from importlib.metadata import entry_points;"
        " print(sorted(e.name for e in entry_points(group='metapaas.plugins')))",
    )
    assert listing.strip() == repr(BUNDLED_TYPES)
    escaping = run(
        "-c",
        "import sys; from importlib.metadata import distributions;"
        " print([str(f) for d in distributions() for f in d.files"
        f" if not str(f.locate().resolve()).startswith({str(target.resolve())!r} + '/')])",
    )
    assert escaping.strip() == "[]", "every RECORD lists only files of the bundle"


# -- small distributions written here ---------------------------------------------


@dataclass
class Installed:
    """A site directory: ``dummy-plugin`` (editable, its source in ``src``) and its libraries."""

    site: Path
    src: Path

    def distribution(self, name: str) -> Distribution:
        return next(iter(Distribution.discover(name=name, path=[str(self.site)])))

    def distributions(self) -> list[Distribution]:
        names = ("dummy-plugin", "dummy-lib", "dummy-fast")
        return [self.distribution(name) for name in names]


def write_dist_info(
    site: Path, name: str, requires: list[str], files: dict[str, str], **extra: str
) -> None:
    """``name``'s .dist-info (and ``files``, paths relative to ``site``), as pip installs it."""
    info = f"{name.replace('-', '_')}-1.0.dist-info"
    metadata = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"]
    metadata += [f"Requires-Dist: {requirement}\n" for requirement in requires]
    written = {f"{info}/METADATA": "".join(metadata)}
    written |= {f"{info}/{file}": text for file, text in extra.items()}
    for path, text in (written | files).items():
        if not path.startswith("../"):
            (site / path).parent.mkdir(parents=True, exist_ok=True)
            (site / path).write_text(text)
    recorded = [*written, *files, f"{info}/RECORD"]
    (site / info / "RECORD").write_text("".join(f"{path},,\n" for path in recorded))


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Installed:
    site, src = tmp_path / "site", tmp_path / "src"
    package = src / "dummy_plugin"
    (package / "tests").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    (package / "__init__.py").write_text("class Dummy: ...\n")
    (package / "node.py").write_text("VERSION = 1\n")
    (package / "tests" / "test_node.py").write_text("def test(): ...\n")
    (package / "__pycache__" / "node.cpython-311.pyc").write_bytes(b"\0")
    write_dist_info(
        site,
        "dummy-plugin",
        [
            "dummy-lib[fast]",
            "pytest; extra == 'test'",
            "not-installed; python_version < '3'",
            f"dummy-old; python_full_version < '{MINOR}.1'",
        ],
        {"__editable__.dummy_plugin-1.0.pth": f"{src}\n"},
        **{
            "direct_url.json": '{"dir_info": {"editable": true}, "url": "file:///x"}',
            "top_level.txt": "dummy_plugin\n",
            "entry_points.txt": "[metapaas.plugins]\ndummy = dummy_plugin:Dummy\n",
        },
    )
    write_dist_info(
        site,
        "dummy-lib",
        ["dummy-fast; extra == 'fast'", "dummy-slow; extra == 'slow'"],
        {
            "dummy_lib/__init__.py": "",
            "dummy_lib/tests/test_lib.py": "",
            "dummy_lib/__pycache__/__init__.cpython-311.pyc": "",
            "../../../bin/dummy-lib": "",
        },
    )
    write_dist_info(site, "dummy-fast", [], {"dummy_fast.py": ""})
    write_dist_info(site, "dummy-slow", [], {"dummy_slow.py": ""})
    write_dist_info(site, "dummy-old", [], {"dummy_old.py": ""})
    monkeypatch.syspath_prepend(str(src))
    return Installed(site, src)


def test_the_closure_follows_requirements_named_extras_and_any_patch_release(
    installed: Installed,
) -> None:
    bundled = {
        canonicalize_name(dist.metadata["Name"])
        for dist in runtime_distributions([str(installed.site), *RUNTIME_SITE])
    }

    assert {"metapaas", "dummy-plugin", "dummy-lib", "dummy-fast"} <= bundled
    assert "dummy-old" in bundled, f"a host may run {MINOR}.0"
    assert not {"dummy-slow", "pytest", "not-installed"} & bundled


def test_plugins_on_sys_path_but_outside_the_runtime_are_not_bundled(
    installed: Installed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a served wheelhouse environment is: on sys.path, not a site directory.
    monkeypatch.syspath_prepend(str(installed.site))

    bundled = {canonicalize_name(dist.metadata["Name"]) for dist in runtime_distributions()}

    assert "metapaas-redis" in bundled
    assert "dummy-plugin" not in bundled


def test_files_come_from_the_editable_tree_and_the_record_without_tests_or_caches(
    installed: Installed, tmp_path: Path
) -> None:
    built = bundle_of(installed.distributions(), tmp_path / "bundles")

    assert [m.name for m in members(built.path)] == [
        "dummy_fast-1.0.dist-info/METADATA",
        "dummy_fast-1.0.dist-info/RECORD",
        "dummy_fast.py",
        "dummy_lib-1.0.dist-info/METADATA",
        "dummy_lib-1.0.dist-info/RECORD",
        "dummy_lib/__init__.py",
        "dummy_plugin-1.0.dist-info/METADATA",
        "dummy_plugin-1.0.dist-info/RECORD",
        "dummy_plugin-1.0.dist-info/direct_url.json",
        "dummy_plugin-1.0.dist-info/entry_points.txt",
        "dummy_plugin-1.0.dist-info/top_level.txt",
        "dummy_plugin/__init__.py",
        "dummy_plugin/node.py",
    ]
    record = read_member(built.path, "dummy_lib-1.0.dist-info/RECORD").splitlines()
    assert [line.split(",")[0] for line in record] == [
        "dummy_lib-1.0.dist-info/METADATA",
        "dummy_lib/__init__.py",
        "dummy_lib-1.0.dist-info/RECORD",
    ]
    assert record[1] == "dummy_lib/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0"


def test_an_edited_source_gives_a_new_bundle_and_the_old_source_the_old_one(
    installed: Installed, tmp_path: Path
) -> None:
    node = installed.src / "dummy_plugin" / "node.py"
    first = bundle_of(installed.distributions(), tmp_path / "bundles")

    node.write_text("VERSION = 2\n")
    edited = bundle_of(installed.distributions(), tmp_path / "bundles")
    node.write_text("VERSION = 1\n")
    reverted = bundle_of(installed.distributions(), tmp_path / "bundles")

    assert edited.digest != first.digest
    assert read_member(edited.path, "dummy_plugin/node.py") == "VERSION = 2\n"
    assert reverted == first


def test_a_reinstalled_library_gives_a_new_bundle(installed: Installed, tmp_path: Path) -> None:
    first = bundle_of(installed.distributions(), tmp_path / "bundles")

    # A reinstall of the same version (another build) rewrites its files and its RECORD.
    (installed.site / "dummy_lib" / "__init__.py").write_text("REBUILT = True\n")
    record = installed.site / "dummy_lib-1.0.dist-info" / "RECORD"
    record.write_text(
        record.read_text().replace("dummy_lib/__init__.py,,", "dummy_lib/__init__.py,sha256=x,15")
    )
    again = bundle_of(installed.distributions(), tmp_path / "bundles")

    assert again.digest != first.digest
    assert read_member(again.path, "dummy_lib/__init__.py") == "REBUILT = True\n"


@pytest.fixture
def counted_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds: list[int] = []
    build = bundle_module._build

    def counting(dists: Sequence[Distribution], directory: Path) -> Bundle:
        builds.append(1)
        return build(dists, directory)

    monkeypatch.setattr(bundle_module, "_build", counting)
    return builds


def test_an_unchanged_install_is_built_once_also_by_calls_at_once(
    installed: Installed, tmp_path: Path, counted_builds: list[int]
) -> None:
    results: list[Bundle] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                bundle_of(installed.distributions(), tmp_path / "bundles")
            )
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)

    assert len(results) == 4
    assert len(set(results)) == 1
    assert bundle_of(installed.distributions(), tmp_path / "bundles") == results[0]
    assert counted_builds == [1]
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir()) == [
        ".lock",
        f"{results[0].digest}.tar.gz",
        "keys",
    ]


def test_a_lost_archive_is_built_again(
    installed: Installed, tmp_path: Path, counted_builds: list[int]
) -> None:
    first = bundle_of(installed.distributions(), tmp_path / "bundles")
    first.path.unlink()

    again = bundle_of(installed.distributions(), tmp_path / "bundles")

    assert again == first
    assert again.path.is_file()
    assert counted_builds == [1, 1]


# -- unpacking on a host ----------------------------------------------------------

TarEntry = Callable[[tarfile.TarFile], None]


def a_file(name: str, content: bytes = b"x", mode: int = 0o644) -> TarEntry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(content), mode
        tar.addfile(info, io.BytesIO(content))

    return add


def a_link(name: str, to: str, kind: bytes = tarfile.SYMTYPE) -> TarEntry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, to
        tar.addfile(info)

    return add


def a_directory(name: str) -> TarEntry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o777
        tar.addfile(info)

    return add


def archive_of(path: Path, *entries: TarEntry) -> Path:
    with gzip.open(path, "wb") as compressed, tarfile.open(fileobj=compressed, mode="w") as tar:
        for add in entries:
            add(tar)
    return path


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Path]:
    """Where archives are unpacked: ``place/target``; ``tmp_path/outside`` must stay empty."""
    (tmp_path / "outside").mkdir()
    yield tmp_path / "place"
    assert list((tmp_path / "outside").iterdir()) == []


Entries = Callable[[Path], list[TarEntry]]
"""An archive's entries, given the directory nothing may reach."""

UNSAFE = [
    pytest.param(lambda out: [a_file("ok"), a_file("../../outside/evil")], id="dot-dot"),
    pytest.param(lambda out: [a_file("a/../../../outside/evil")], id="dot-dot inside a name"),
    pytest.param(lambda out: [a_file(f"{out}/evil")], id="absolute"),
    pytest.param(lambda out: [a_link("link", str(out)), a_file("link/evil")], id="symlink out"),
    pytest.param(lambda out: [a_link("link", "../../outside")], id="relative symlink out"),
    pytest.param(lambda out: [a_link("link", "a"), a_directory("a")], id="any symlink"),
    pytest.param(lambda out: [a_link("evil", f"{out}/evil", tarfile.LNKTYPE)], id="hard link"),
    pytest.param(lambda out: [a_link("fifo", "", tarfile.FIFOTYPE)], id="fifo"),
]


@pytest.mark.parametrize("entries", UNSAFE)
def test_unpack_refuses_what_could_reach_outside_and_leaves_nothing(
    entries: Entries, tmp_path: Path, place: Path
) -> None:
    archive = archive_of(tmp_path / "bad.tar.gz", *entries(tmp_path / "outside"))

    with pytest.raises(UnsafeArchive):
        unpack(archive, place / "target")

    assert list(place.iterdir()) == [], "no target, no scratch directory left"


@needs_system_python
@pytest.mark.parametrize("entries", UNSAFE[:4])
def test_the_host_s_python_refuses_them_too_from_the_module_s_source(
    entries: Entries, tmp_path: Path, place: Path
) -> None:
    archive = archive_of(tmp_path / "bad.tar.gz", *entries(tmp_path / "outside"))

    result = run_unpack_source(archive, place / "target")

    assert result.returncode != 0
    assert "UnsafeArchive" in result.stderr
    assert list(place.iterdir()) == []


def run_unpack_source(archive: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """``unpack.py`` as a remote provider runs it: its source, by the system Python alone.

    ``-I -S``: no site directory, so a third-party import would fail here too.
    """
    source = Path(unpack_module.__file__).read_text()
    return subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-S", "-c", source, str(archive), str(target)],
        cwd=archive.parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_unpack_gives_plain_modes_and_leaves_an_existing_target_as_it_is(
    tmp_path: Path, place: Path
) -> None:
    archive = archive_of(
        tmp_path / "good.tar.gz",
        a_directory("pkg"),
        a_file("pkg/__init__.py", b"A = 1\n", mode=0o4777),
        a_file("pkg/lib.so", b"\x7fELF", mode=0o700),
        a_file("./top.txt"),
    )
    target = place / "target"
    old_umask = os.umask(0o077)  # the umask of the session unpacking must not matter
    try:
        unpack(archive, target)
    finally:
        os.umask(old_umask)

    modes = {
        str(path.relative_to(target)): path.stat().st_mode & 0o7777
        for path in [target, *target.rglob("*")]
    }
    assert modes == {
        ".": 0o755,
        "pkg": 0o755,
        "pkg/__init__.py": 0o755,
        "pkg/lib.so": 0o755,
        "top.txt": 0o644,
    }
    other = archive_of(tmp_path / "other.tar.gz", a_file("other"))
    unpack(other, target)
    assert not (target / "other").exists()
    assert sorted(p.name for p in place.iterdir()) == ["target"]


@needs_system_python
def test_the_host_s_python_unpacks_the_runtime_bundle(runtime: Bundle, tmp_path: Path) -> None:
    target = tmp_path / "runtime"

    result = run_unpack_source(runtime.path, target)

    assert result.returncode == 0, result.stderr
    assert (target / "metapaas" / "agent" / "__main__.py").is_file()
    assert (target / "metapaas_s3-0.1.0.dist-info" / "entry_points.txt").is_file()
