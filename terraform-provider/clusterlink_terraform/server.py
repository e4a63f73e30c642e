"""Serving the provider to Terraform (go-plugin handshake, plugin protocol 6).

This replaces `tf.runner.run_provider` for two reasons:

- `tf` 1.2 plans creates without asking the resource, and never passes the
  configuration to `plan()`. `ClusterLinkServicer.PlanResourceChange` calls
  every resource's `plan()` for creates, updates and destroys, with the
  configuration in the context (so defaults apply only where nothing is set).
- `tf.runner` caches its TLS certificate under `~/.cache/tf-python-provider`.
  Here the certificate lives in memory only: the provider writes nothing into
  the user's home directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from concurrent import futures
from copy import deepcopy
from typing import Any

import grpc
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
from tf.gen import tfplugin_pb2 as tfpb
from tf.gen import tfplugin_pb2_grpc as tfrpc
from tf.iface import Provider
from tf.provider import ProviderServicer, _decode_state, _encode_state
from tf.runner import _ShutdownInterceptor
from tf.utils import Diagnostics, _to_attribute_path, to_dynamic_value

from clusterlink_terraform.base import ConfigPlanContext, diagnose

# Terraform sets this in the plugin's environment; without it the binary was run by hand.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


class ClusterLinkServicer(ProviderServicer):
    def GetProviderSchema(self, request: tfpb.GetProviderSchema.Request, context: grpc.ServicerContext):
        response = super().GetProviderSchema(request, context)
        # Terraform takes the capabilities from here (tf only sets them in GetMetadata): with
        # plan_destroy, destroys are planned by the provider too (see plan_destroy hooks).
        response.server_capabilities.CopyFrom(
            tfpb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True)
        )
        return response

    def PlanResourceChange(self, request: tfpb.PlanResourceChange.Request, context: grpc.ServicerContext):
        type_name = request.type_name
        diags = Diagnostics()
        attrs = self._get_res_attrs(type_name)
        blocks = self._get_res_blocks(type_name)
        _, prior = _decode_state(diags, attrs, blocks, request.prior_state)
        proposed_enc, proposed = _decode_state(diags, attrs, blocks, request.proposed_new_state)
        _, config = _decode_state(diags, attrs, blocks, request.config)
        if diags.has_errors():
            return tfpb.PlanResourceChange.Response(diagnostics=diags.to_pb())
        inst = self.app.new_resource(self._get_res_cls(type_name))

        if proposed is None:  # destroy
            hook = getattr(inst, "plan_destroy", None)
            if prior is not None and hook is not None:
                try:
                    hook(ConfigPlanContext(diags, type_name, set(), config=None, prior=prior), deepcopy(prior))
                except Exception as exc:  # noqa: BLE001 - a warning hook must not break a destroy
                    diagnose(diags, exc)
            return tfpb.PlanResourceChange.Response(
                planned_state=to_dynamic_value(None), diagnostics=diags.to_pb()
            )

        changed = {
            k for k in attrs
            if prior is not None and not attrs[k].type.semantically_equal(prior.get(k), proposed.get(k))
        }
        ctx = ConfigPlanContext(diags, type_name, changed, config=config, prior=prior)
        planned = inst.plan(ctx, deepcopy(prior), deepcopy(proposed))
        if planned is None or diags.has_errors():
            return tfpb.PlanResourceChange.Response(diagnostics=diags.to_pb())

        replace = []
        if prior is not None:
            replace = [
                _to_attribute_path([k]) for k in attrs
                if attrs[k].requires_replace and not attrs[k].type.semantically_equal(prior.get(k), planned.get(k))
            ]
            replace += [_to_attribute_path(path) for path in ctx.requires_replace]
        return tfpb.PlanResourceChange.Response(
            planned_state=_encode_state(attrs, blocks, planned, proposed_enc),
            requires_replace=replace,
            planned_private=request.prior_private,
            diagnostics=diags.to_pb(),
        )


def _certificate() -> tuple[bytes, grpc.ServerCredentials]:
    """A throw-away self-signed certificate for go-plugin's TLS (in memory only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True,
                data_encipherment=False, key_agreement=True, key_cert_sign=True, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)], require_client_auth=False)
    return cert.public_bytes(serialization.Encoding.DER), credentials


class _Controller(controller_rpc.GRPCControllerServicer):
    def __init__(self, stopper: _ShutdownInterceptor) -> None:
        self._stopper = stopper

    def Shutdown(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._stopper.stopped = True
        return controller_pb.Empty()


class _Stdio(stdio_rpc.GRPCStdioServicer):
    def StreamStdio(self, request: Any, context: grpc.ServicerContext) -> Any:
        return iter([])


def serve(provider: Provider, socket_dir: str) -> None:
    """Serves `provider` on a unix socket in `socket_dir` until Terraform stops it."""
    stopper = _ShutdownInterceptor()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10), interceptors=[stopper])
    stopper.server = server
    tfrpc.add_ProviderServicer_to_server(ClusterLinkServicer(provider), server)
    controller_rpc.add_GRPCControllerServicer_to_server(_Controller(stopper), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(_Stdio(), server)

    socket = os.path.join(socket_dir, "provider.sock")
    der, credentials = _certificate()
    server.add_secure_port(f"unix://{socket}", credentials)
    server.start()
    # go-plugin handshake: core version | protocol version | network | address | protocol | cert
    print(f"1|6|unix|{socket}|grpc|{base64.b64encode(der).decode().rstrip('=')}", flush=True)
    try:
        while server.wait_for_termination(0.05):
            if stopper.stopped:
                break
    except KeyboardInterrupt:
        pass
    server.stop(grace=0.5)


def run_by_hand() -> bool:
    """True when the binary was started by a person rather than by Terraform."""
    return os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE
