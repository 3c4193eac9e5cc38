"""Which types a host can run, from the Debian packages they need: against this machine's real
dpkg and apt (as a host would answer over SSH)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

import pytest
from metapaas_ssh import packages
from metapaas_ssh.remote import Completed

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian machine")

ABSENT = "metapaas-no-such-package"


def here(argv: Sequence[str], timeout: float) -> Completed:
    done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    return Completed(done.returncode, done.stdout, done.stderr)


def test_a_type_whose_packages_are_installed_can_run_and_one_missing_them_cannot() -> None:
    wanted = {"redis": ["redis-server"], "odd": [ABSENT, "redis-server"], "demo": []}

    found = packages.type_findings(here, wanted, may_install=False)

    assert found["redis"] == ""
    assert found["demo"] == ""
    assert found["odd"] == (
        f"missing Debian packages {ABSENT}, and the host's policy does not let the control "
        "plane install them"
    )


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="no apt-get")
def test_where_the_policy_allows_it_apt_installs_and_its_failure_is_the_reason() -> None:
    found = packages.type_findings(here, {"odd": [ABSENT]}, may_install=True)

    assert found["odd"].startswith(f"missing Debian packages {ABSENT}: apt-get failed: ")
    assert ABSENT in found["odd"].split("apt-get failed: ")[1]  # apt's own words name it
