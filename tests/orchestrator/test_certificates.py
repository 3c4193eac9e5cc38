"""Nodes' server certificates: issued with an address, renewed before they expire, read by
their own node alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization

from metapaas import sdk, tls
from metapaas.db import Sealer, models
from metapaas.orchestrator import certificates
from metapaas.orchestrator.reconciler import node_name
from metapaas.testing.clock import FakeClock
from tests.orchestrator.rig import Rig

NOW = FakeClock()()
AUTHORITY = tls.Authority.new("test CA", NOW)
SEALER = Sealer(Fernet.generate_key())
TLS_ROLE = sdk.NodeGroup("web", ports=(sdk.Port("http", 80), sdk.Port("https", 443, tls=True)))
PLAIN_ROLE = sdk.NodeGroup("web", ports=(sdk.Port("http", 80),))
RENEWAL_AGE = tls.SERVER_LIFETIME - tls.RENEW_BEFORE


OTHER_AUTHORITY = tls.Authority.new("the CA before", NOW)


@dataclass(frozen=True)
class Case:
    why: str
    role: sdk.NodeGroup
    address: str  # the node's address now
    issued_for: str | None  # the address its certificate was issued for (None: none)
    age: timedelta  # how long ago it was issued
    issues: bool
    signed_by: tls.Authority = AUTHORITY  # who issued the one it has


A, B, DAY, NONE = "10.0.0.1", "10.0.0.2", timedelta(days=1), timedelta()
CASES = [
    Case("a node with a TLS port and an address gets one", TLS_ROLE, A, None, NONE, True),
    Case("no TLS port: no certificate", PLAIN_ROLE, A, None, NONE, False),
    Case("no address yet: nothing to issue for", TLS_ROLE, "", None, NONE, False),
    Case("a current one is kept", TLS_ROLE, A, A, DAY, False),
    Case("kept until renewal is due", TLS_ROLE, A, A, RENEWAL_AGE - timedelta(seconds=1), False),
    Case("renewed once due", TLS_ROLE, A, A, RENEWAL_AGE, True),
    Case("renewed when past its end", TLS_ROLE, A, A, tls.SERVER_LIFETIME * 2, True),
    Case("a node that moved gets one for its new address", TLS_ROLE, B, A, DAY, True),
    Case("one another CA signed is replaced", TLS_ROLE, A, A, DAY, True, OTHER_AUTHORITY),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
def test_when_a_node_gets_a_new_certificate(case: Case) -> None:
    clock = FakeClock(NOW)
    node = models.Node(name="n1-web-0", address=case.issued_for or case.address, tls_names=[])
    if case.issued_for is not None:
        assert certificates.keep_current(node, TLS_ROLE, case.signed_by, SEALER, clock())
    before = node.tls_certificate
    clock.advance(case.age.total_seconds())
    node.address = case.address

    issued = certificates.keep_current(node, case.role, AUTHORITY, SEALER, clock())

    assert issued == case.issues
    assert (node.tls_certificate != before) == case.issues
    if node.tls_certificate:
        certificate = x509.load_pem_x509_certificate(node.tls_certificate.encode())
        assert certificate.not_valid_after_utc > clock(), "never a certificate past its end"
        key = SEALER.unseal(node.tls_sealed_key)["key"]
        assert _public(serialization.load_pem_private_key(key.encode(), None)) == _public(
            certificate
        ), "the sealed key is the certificate's"
        assert certificates.due(node, AUTHORITY, clock()) is False


def _public(holder: Any) -> bytes:
    key = holder.public_key()
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _view(rig: Rig, name: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {rig.agents.credential(name)}"}
    answer = rig.api.client.get("/v1/agent/metadata", params={"wait": 0}, headers=headers)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_a_due_certificate_is_renewed_on_a_live_instance_and_reaches_its_node(rig: Rig) -> None:
    instance_id = rig.create("demo", "site", replicas=2)
    rig.settle_status(instance_id, "ACTIVE")
    name, other = (node_name(instance_id, "web", i) for i in range(2))
    first = _view(rig, name)
    pem = first["node"]["pem"]
    assert pem["authority"] == rig.api.state.authority().certificate_pem
    assert pem["certificate"] != _view(rig, other)["node"]["pem"]["certificate"]
    assert "pem" not in str(first["peers"]), "a node reads no other node's certificate"
    assert (
        pem["key"]
        not in rig.api.client.get(
            f"/v1/types/demo/instances/{instance_id}", headers=rig.api.as_admin
        ).text
    )

    [row] = rig.rows(models.Node, name=name)
    assert row.tls_renew_at is not None
    rig.clock.advance((row.tls_renew_at - rig.clock()).total_seconds() + 1)
    # Months passed in one step: the agents look silent for a moment, then report again.
    rig.settle(
        lambda: (
            rig.rows(models.Node, name=name)[0].tls_renew_at != row.tls_renew_at
            and rig.instance(instance_id).status == "ACTIVE"
        ),
        "the certificate renewed on an ACTIVE instance",
    )

    renewed = _view(rig, name)
    assert renewed["revision"] > first["revision"], "the node is told"
    assert renewed["node"]["pem"]["certificate"] != pem["certificate"]


def test_a_type_without_tls_ports_gets_no_certificates(rig: Rig) -> None:
    instance_id = rig.create("clusters", "c1", replicas=0)
    rig.settle_status(instance_id, "ACTIVE")

    assert "pem" not in _view(rig, node_name(instance_id, "primary", 0))["node"]
    assert all(not n.tls_certificate for n in rig.rows(models.Node, instance_id=instance_id))


def test_a_new_ca_reaches_every_node_of_an_active_instance(rig: Rig) -> None:
    """An operator who gives the control plane another CA (a restart with
    METAPAAS_TLS_CA_*) needs no renewal window to pass: the next resync finds the nodes
    signed by the old one."""
    instance_id = rig.create("demo", "site")
    rig.settle_status(instance_id, "ACTIVE")
    name = node_name(instance_id, "web", 0)
    before = _view(rig, name)["node"]["pem"]
    operator = tls.Authority.new("the operator's CA", rig.clock())
    rig.api.state._authority = operator  # what a restart with the operator's files loads

    rig.worker = rig.new_worker()
    rig.settle(
        lambda: _view(rig, name)["node"]["pem"]["certificate"] != before["certificate"],
        "the node given a certificate of the new CA",
    )

    after = _view(rig, name)["node"]["pem"]
    assert after["certificate"] != before["certificate"]
    issuer = x509.load_pem_x509_certificate(after["certificate"].encode()).issuer
    assert issuer == operator.certificate.subject
    assert after["authority"] == operator.certificate_pem
    assert rig.instance(instance_id).status == "ACTIVE"
