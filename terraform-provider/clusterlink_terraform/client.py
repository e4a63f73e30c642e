"""The provider's connection to the ClusterLink service.

One channel per provider process (plaintext, or TLS when a CA is given, with a
client certificate for mutual TLS) and an optional bearer token sent as
`authorization: Bearer ...` metadata. Every call has a deadline; a failed call
raises `ServiceError`, which carries a summary and detail for a Terraform
diagnostic, never a stack trace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clusterlink.api.security import ClientSecurity, is_connect_failure
from clusterlink.v1 import clusterlink_pb2 as pb
from clusterlink.v1 import clusterlink_pb2_grpc as pb_grpc

T = TypeVar("T")

ENDPOINT_ENV = "CLUSTERLINK_ENDPOINT"
TOKEN_ENV = "CLUSTERLINK_TOKEN"
TLS_ENV = {
    "tls_ca_file": "CLUSTERLINK_TLS_CA_FILE",
    "tls_cert_file": "CLUSTERLINK_TLS_CERT_FILE",
    "tls_key_file": "CLUSTERLINK_TLS_KEY_FILE",
}
DEFAULT_ENDPOINT = "127.0.0.1:50051"
# Deadline of one RPC, in seconds.
RPC_TIMEOUT = 30.0
# Deadline of the reachability check when the provider is configured.
CONNECT_TIMEOUT = 10.0

class ServiceError(Exception):
    """A failed call, ready to become a Terraform diagnostic."""

    def __init__(self, summary: str, detail: str = "", code: grpc.StatusCode | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail
        self.code = code


class ConfigError(ValueError):
    """Provider settings that cannot work (the message names the setting)."""


@dataclass(frozen=True)
class Settings:
    """The provider configuration, after environment defaults."""

    endpoint: str = DEFAULT_ENDPOINT
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(cls, config: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
        """Settings from the provider block, falling back to the CLI's environment variables."""
        env = dict(os.environ if environ is None else environ)

        def pick(name: str, var: str) -> str | None:
            value = config.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
            return env.get(var, "").strip() or None

        return cls(
            endpoint=pick("endpoint", ENDPOINT_ENV) or DEFAULT_ENDPOINT,
            tls_ca_file=pick("tls_ca_file", TLS_ENV["tls_ca_file"]),
            tls_cert_file=pick("tls_cert_file", TLS_ENV["tls_cert_file"]),
            tls_key_file=pick("tls_key_file", TLS_ENV["tls_key_file"]),
            token=pick("token", TOKEN_ENV),
        )

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca_file)

    def security(self) -> ClientSecurity:
        """Reads the TLS files; raises ConfigError naming the setting that is wrong."""
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("tls_cert_file and tls_key_file go together (a client certificate and its key)")
        if self.tls_cert_file and not self.tls_ca_file:
            raise ConfigError(
                "tls_cert_file and tls_key_file need tls_ca_file too: the CA that signed the service's "
                "certificate (TLS is used when tls_ca_file is set)"
            )
        return ClientSecurity(
            ca_pem=_read("tls_ca_file", self.tls_ca_file),
            cert_pem=_read("tls_cert_file", self.tls_cert_file),
            key_pem=_read("tls_key_file", self.tls_key_file),
            token=self.token,
        )


def _read(setting: str, path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {setting} {path}: {exc.strerror or exc}") from None


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


class Client:
    """A channel to the service; `call("GetLink", request)` runs one RPC."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = settings.endpoint
        try:
            self._channel = settings.security().channel(settings.endpoint)
        except ConfigError:
            raise
        except Exception as exc:  # grpc refuses some malformed targets up front
            raise ConfigError(f"endpoint {settings.endpoint!r} is not usable: {exc}") from None
        self.stub = pb_grpc.ClusterLinkServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    # ------------------------------------------------------------------ errors

    def unreachable(self, details: str) -> ServiceError:
        hint = "is 'clusterlink serve' running there"
        if self.settings.uses_tls:
            hint += ", serving TLS with a certificate that tls_ca_file trusts"
        return ServiceError(
            f"cannot reach the ClusterLink service at {self.endpoint}",
            f"cannot reach the ClusterLink service at {self.endpoint}: {details or 'no connection'}; {hint}? "
            "Set the provider's endpoint (or CLUSTERLINK_ENDPOINT) to where it listens.",
            grpc.StatusCode.UNAVAILABLE,
        )

    def error(self, err: grpc.RpcError, what: str, timeout: float) -> ServiceError:
        code = err.code() if callable(getattr(err, "code", None)) else None
        details = _one_line((err.details() if callable(getattr(err, "details", None)) else "") or "")
        if code == grpc.StatusCode.UNAVAILABLE and (
            not details or is_connect_failure(details)
        ):
            return self.unreachable(details)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and details.lower() in ("", "deadline exceeded"):
            return ServiceError(
                what, f"the ClusterLink service at {self.endpoint} did not answer within {timeout:g} s", code
            )
        name = code.name if code is not None else "UNKNOWN"
        return ServiceError(what, f"{details} [{name}]" if details else name, code)

    # ------------------------------------------------------------------ calls

    def call(self, method: str, request: Any, what: str = "", timeout: float = RPC_TIMEOUT) -> Any:
        """Runs one RPC; raises ServiceError whose summary is `what` (default: "METHOD failed")
        and whose detail is the service's message."""
        try:
            return getattr(self.stub, method)(request, timeout=timeout)
        except grpc.RpcError as err:
            raise self.error(err, what or f"{method} failed", timeout) from None

    def check(self) -> None:
        """Raises ServiceError unless the service answers (health check, then an authorized call)."""
        health = health_pb2_grpc.HealthStub(self._channel)
        try:
            health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CONNECT_TIMEOUT)
        except grpc.RpcError as err:
            code = err.code() if callable(getattr(err, "code", None)) else None
            details = _one_line(err.details() or "") if callable(getattr(err, "details", None)) else ""
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                details = f"no answer within {CONNECT_TIMEOUT:g} s"
            if code not in (grpc.StatusCode.UNIMPLEMENTED,):
                raise self.unreachable(details) from None
        # Proves the token (health checks are open to all).
        self.call("ListLinks", pb.ListLinksRequest(page_size=1), "ClusterLink refused the provider's first call")

    def wait_for(
        self,
        what: str,
        check: Callable[[], T | None],
        timeout: float,
        interval: float = 0.5,
    ) -> T:
        """Polls `check` until it returns a value; raises ServiceError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise ServiceError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(interval)
