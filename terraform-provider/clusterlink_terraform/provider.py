"""The `clusterlink` provider: configuration, and the resources and data sources it serves."""

from __future__ import annotations

from typing import Any

from tf.iface import Config, DataSource, Provider, Resource
from tf.schema import Attribute, Schema
from tf.types import String, Unknown
from tf.utils import Diagnostics

from clusterlink_terraform.client import Client, ConfigError, ServiceError, Settings
from clusterlink_terraform.link import LinkDataSource, LinkResource
from clusterlink_terraform.mirror_topic import MirrorTopicDataSource, MirrorTopicResource
from clusterlink_terraform.mirror_topics import MirrorTopicsDataSource

FULL_NAME = "registry.terraform.io/clusterlink/clusterlink"

_SETTINGS = ("endpoint", "tls_ca_file", "tls_cert_file", "tls_key_file", "token")


class ClusterLinkProvider(Provider):
    def __init__(self) -> None:
        self.client: Client | None = None
        self.config_problem: str | None = None

    def get_model_prefix(self) -> str:
        return "clusterlink_"

    def full_name(self) -> str:
        return FULL_NAME

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(
            version=0,
            description="Manages ClusterLink links and mirror topics through the service's gRPC API.",
            attributes=[
                Attribute(
                    "endpoint", String(), optional=True,
                    description="The ClusterLink service's gRPC address, `host:port`. Default: the "
                    "`CLUSTERLINK_ENDPOINT` environment variable, else `127.0.0.1:50051`.",
                ),
                Attribute(
                    "tls_ca_file", String(), optional=True,
                    description="Path of a PEM CA certificate that signed the service's certificate. When set, "
                    "the provider connects with TLS (otherwise plaintext). Default: `CLUSTERLINK_TLS_CA_FILE`.",
                ),
                Attribute(
                    "tls_cert_file", String(), optional=True,
                    description="Path of a PEM client certificate, for mutual TLS (with `tls_key_file` and "
                    "`tls_ca_file`). Default: `CLUSTERLINK_TLS_CERT_FILE`.",
                ),
                Attribute(
                    "tls_key_file", String(), optional=True,
                    description="Path of the PEM private key of `tls_cert_file`. Default: "
                    "`CLUSTERLINK_TLS_KEY_FILE`.",
                ),
                Attribute(
                    "token", String(), optional=True, sensitive=True,
                    description="A bearer token, sent as `authorization: Bearer TOKEN` with every call, for a "
                    "service started with `--token-file`. Default: `CLUSTERLINK_TOKEN`. Use TLS when the "
                    "service is not on the same host: without it the token travels in clear.",
                ),
            ],
        )

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        config = config or {}
        known = {k: v for k, v in config.items() if k in _SETTINGS and isinstance(v, str)}
        if bool(known.get("tls_cert_file")) != bool(known.get("tls_key_file")) and not any(
            config.get(k) is Unknown for k in ("tls_cert_file", "tls_key_file")
        ):
            diags.add_error("tls_cert_file and tls_key_file go together (a client certificate and its key)")

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        config = config or {}
        unknown = [k for k in _SETTINGS if config.get(k) is Unknown]
        if unknown:
            self.config_problem = f"provider settings known only after apply: {', '.join(unknown)}"
            diags.add_error(
                "the ClusterLink provider's settings must be known at plan time",
                f"{', '.join(unknown)} depend on values Terraform learns only during apply.",
            )
            return
        try:
            settings = Settings.resolve(config)
            client = Client(settings)
        except ConfigError as exc:
            self.config_problem = str(exc)
            diags.add_error(f"invalid ClusterLink provider configuration: {exc}")
            return
        try:
            client.check()
        except ServiceError as err:
            client.close()
            self.config_problem = err.summary
            diags.add_error(err.summary, err.detail)
            return
        self.client = client

    def get_data_sources(self) -> list[type[DataSource]]:
        return [LinkDataSource, MirrorTopicDataSource, MirrorTopicsDataSource]

    def get_resources(self) -> list[type[Resource]]:
        return [LinkResource, MirrorTopicResource]

    def new_resource(self, klass: type[Any]) -> Any:
        return klass(self)

    def new_data_source(self, klass: type[Any]) -> Any:
        return klass(self)
