"""The cloud-init user data VM providers (libvirt, OpenStack) boot a node with.

After the ``#cloud-config`` line the document is JSON, which is also YAML:
JSON's quoting is exact for any token or URL and needs no YAML library. The
VM installs the agent into its own venv (Debian and Ubuntu refuse a system
``pip install``, PEP 668), writes the bootstrap token and the control plane's CA
certificate where the agent reads them and runs the agent as a systemd unit that
restarts it when it exits.
"""

from __future__ import annotations

import json

from metapaas.providers.base import NodeSpec, check_name
from metapaas.sdk import PermanentError

NODE_DIR = "/var/lib/metapaas/node"
TOKEN_PATH = f"{NODE_DIR}/bootstrap.token"
CA_PATH = f"{NODE_DIR}/control-plane-ca.pem"  # the agent's CONTROL_PLANE_CA
VENV = "/opt/metapaas/venv"
UNIT = "metapaas-agent.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"


def user_data(spec: NodeSpec, agent_package: str) -> str:
    """The ``#cloud-config`` document that turns a fresh VM into node ``spec.name``.

    ``agent_package`` is a pip requirement (``metapaas==0.1.0``, a wheel URL).
    The token appears only in the token file's entry, never in the unit or a
    command line, where ``ps`` or the journal would show it.
    """
    check_name(spec.name)
    document = {
        "packages": ["python3-venv"],
        "write_files": [
            _file(TOKEN_PATH, spec.bootstrap_token, "0600"),
            _file(CA_PATH, spec.control_plane_ca, "0644"),
            _file(UNIT_PATH, _unit(spec), "0644"),
        ],
        "runcmd": [
            ["python3", "-m", "venv", VENV],
            [f"{VENV}/bin/python3", "-m", "pip", "install", agent_package],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", UNIT],
        ],
    }
    return "#cloud-config\n" + json.dumps(document, indent=2) + "\n"


def _file(path: str, content: str, permissions: str) -> dict[str, str]:
    return {"path": path, "content": content, "permissions": permissions, "owner": "root:root"}


def _unit(spec: NodeSpec) -> str:
    url = _systemd_quote(spec.control_plane_url)
    return (
        "[Unit]\n"
        "Description=MetaPaaS node agent\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        f"Environment=METAPAAS_NODE_NAME={spec.name}\n"
        f"WorkingDirectory={NODE_DIR}\n"
        f"ExecStart={VENV}/bin/python3 -m metapaas.agent --url {url} --dir {NODE_DIR}\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _systemd_quote(value: str) -> str:
    """One ExecStart argument, taken literally: no specifier, variable or line break."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise PermanentError(f"control plane URL {value!r} holds a control character")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
