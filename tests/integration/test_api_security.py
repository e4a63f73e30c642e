"""The API over TLS (mutual) with a bearer token, on a real `clusterlink serve`."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clusterlink.api.security import ClientSecurity
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc
from tests.fixtures.service import Service
from tests.fixtures.tls import make_pki

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    pki = make_pki(d)
    (d / "token").write_text("s3cret-token\n")
    svc = Service(db_url=f"sqlite:///{d}/db.sqlite", workdir=d / "svc",
                  extra_args=["--tls-cert-file", str(d / "server.pem"), "--tls-key-file", str(d / "server.key"),
                              "--tls-client-ca-file", str(d / "ca.pem"), "--token-file", str(d / "token")]).start()
    yield svc, d, pki.read("ca.pem"), (pki.read("client.pem"), pki.read("client.key"))
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
