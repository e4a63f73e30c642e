"""The API over TLS (mutual) with a bearer token, on a real `clusterlink serve`."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clusterlink.api.security import ClientSecurity
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.fixtures.service import Service

pytestmark = pytest.mark.integration


def _cert(name: str, issuer: tuple | None = None, ca: bool = False, san: str | None = None):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address(san))]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    return cert, key


def _pem(cert, key) -> tuple[bytes, bytes]:
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    ca = _cert("clusterlink-test-ca", ca=True)
    server = _pem(*_cert("server", issuer=ca, san="127.0.0.1"))
    client = _pem(*_cert("client", issuer=ca))
    ca_pem = _pem(*ca)[0]
    for name, data in {"ca.pem": ca_pem, "server.pem": server[0], "server.key": server[1],
                       "client.pem": client[0], "client.key": client[1], "token": b"s3cret-token\n"}.items():
        (d / name).write_bytes(data)
    svc = Service(db_url=f"sqlite:///{d}/db.sqlite", workdir=d / "svc",
                  extra_args=["--tls-cert-file", str(d / "server.pem"), "--tls-key-file", str(d / "server.key"),
                              "--tls-client-ca-file", str(d / "ca.pem"), "--token-file", str(d / "token")]).start()
    yield svc, d, ca_pem, client
    svc.stop()


def test_token_and_mutual_tls_are_enforced(secured):
    svc, d, ca_pem, (cert, key) = secured
    good = ClientSecurity(ca_pem=ca_pem, cert_pem=cert, key_pem=key, token="s3cret-token")
    stub = pb_grpc.ClusterLinkServiceStub(good.channel(svc.endpoint))
    assert stub.ListLinks(pb.ListLinksRequest(), timeout=10).links == []

    wrong = ClientSecurity(ca_pem=ca_pem, cert_pem=cert, key_pem=key, token="guess")
    with pytest.raises(grpc.RpcError) as err:
        pb_grpc.ClusterLinkServiceStub(wrong.channel(svc.endpoint)).ListLinks(pb.ListLinksRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    no_token = ClientSecurity(ca_pem=ca_pem, cert_pem=cert, key_pem=key)
    with pytest.raises(grpc.RpcError) as err:
        pb_grpc.ClusterLinkServiceStub(no_token.channel(svc.endpoint)).ListLinks(pb.ListLinksRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in err.value.details()

    # Health checks stay open to probes that hold a client certificate but no token.
    health = health_pb2_grpc.HealthStub(no_token.channel(svc.endpoint))
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING

    # Without a client certificate the TLS handshake fails.
    no_cert = ClientSecurity(ca_pem=ca_pem, token="s3cret-token")
    with pytest.raises(grpc.RpcError) as err:
        pb_grpc.ClusterLinkServiceStub(no_cert.channel(svc.endpoint)).ListLinks(pb.ListLinksRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_cli_reads_token_and_tls_files_from_the_environment(secured):
    svc, d, _, _ = secured
    env = {**os.environ, "CLUSTERLINK_ENDPOINT": svc.endpoint, "CLUSTERLINK_TOKEN": "s3cret-token",
           "CLUSTERLINK_TLS_CA_FILE": str(d / "ca.pem"), "CLUSTERLINK_TLS_CERT_FILE": str(d / "client.pem"),
           "CLUSTERLINK_TLS_KEY_FILE": str(d / "client.key")}
    ok = subprocess.run([sys.executable, "-m", "clusterlink.cli.main", "link", "list", "-o", "json"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "[]"
    env["CLUSTERLINK_TOKEN"] = "guess"
    bad = subprocess.run([sys.executable, "-m", "clusterlink.cli.main", "link", "list"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "UNAUTHENTICATED" in bad.stderr
    assert "guess" not in bad.stderr
