"""Programs the agent runs on a node: they speak standard S3, so every engine shares them.

They reach the node's S3 API over TLS alone and verify its certificate against the
control plane's CA for the node's address: ``CLIENT_ARGS`` tell a program where
(``--endpoint``) and with which CA file (``--authority``), rendered by the agent.
"""

ENDPOINT = "https://{{ node.address }}:{{ node.ports.s3 }}"
AUTHORITY = "{{ node.tls.authority }}"
CLIENT_ARGS = ("--endpoint", ENDPOINT, "--authority", AUTHORITY)
