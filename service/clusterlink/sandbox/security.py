"""SASL_SSL for sandbox clusters: a CA of their own, SCRAM-SHA-512 users, the StandardAuthorizer.

Layout inside a cluster folder (next to cluster.json)::

    tls/ca.pem             the CA certificate clients trust (its key is thrown away)
    tls/server.pem         the brokers' private key and certificate (mode 0600),
                           valid for IP 127.0.0.1 and DNS localhost
    users/<name>.password  each SCRAM user's password (mode 0600)

Clients reach the brokers on one SASL_SSL listener. The CONTROLLER listener stays
PLAINTEXT on 127.0.0.1 (its principal, User:ANONYMOUS, is a super user: controllers
and brokers must be allowed to talk before any ACL exists); brokers talk to each other
over SASL_SSL as `admin`. Users are created when the storage is formatted (KRaft keeps
SCRAM credentials in the metadata log, see `scram_format_args`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ADMIN",
    "LINKER",
    "SASL_MECHANISM",
    "SECURITY_PROTOCOL",
    "CLIENT_LISTENER",
    "ClusterSecurity",
    "create_security",
    "link_acls",
]

ADMIN = "admin"
LINKER = "linker"
SASL_MECHANISM = "SCRAM-SHA-512"
SECURITY_PROTOCOL = "SASL_SSL"
CLIENT_LISTENER = "SASL_SSL"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# What the PLAINTEXT controller listener authenticates everybody as.
INTERNAL_PRINCIPAL = "User:ANONYMOUS"
TLS_DIR = "tls"
USERS_DIR = "users"
CA_FILE = "ca.pem"
SERVER_FILE = "server.pem"
CERT_DAYS = 3650  # a sandbox may live for years; nothing outside it trusts this CA


@dataclass(frozen=True)
class ClusterSecurity:
    """Where a secured cluster keeps its CA and passwords, and how to connect to it."""

    folder: Path  # the cluster folder
    users: tuple[str, ...]

    @property
    def ca_file(self) -> Path:
        return self.folder / TLS_DIR / CA_FILE

    @property
    def server_file(self) -> Path:
        return self.folder / TLS_DIR / SERVER_FILE

    def password_file(self, user: str) -> Path:
        if user not in self.users:
            raise KeyError(f"no SCRAM user {user!r} in {self.folder} (users: {', '.join(self.users)})")
        return self.folder / USERS_DIR / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text().strip()

    def ca_pem(self) -> str:
        return self.ca_file.read_text()

    def client_config(self, user: str = ADMIN, password: str | None = None) -> dict[str, Any]:
        """confluent-kafka (librdkafka) settings to connect as `user`, without bootstrap.servers."""
        return {
            "security.protocol": SECURITY_PROTOCOL,
            "sasl.mechanism": SASL_MECHANISM,
            "sasl.username": user,
            "sasl.password": self.password(user) if password is None else password,
            "ssl.ca.location": str(self.ca_file),
        }

    def broker_properties(self, port: int, controller_port: int, host: str) -> dict[str, str]:
        """Properties that replace the PLAINTEXT client listener of a node with SASL_SSL."""
        admin_password = self.password(ADMIN).replace("\\", "\\\\").replace('"', '\\"')
        return {
            "listeners": f"{CLIENT_LISTENER}://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"{CLIENT_LISTENER}://{host}:{port}",
            "listener.security.protocol.map": f"{CLIENT_LISTENER}:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": CLIENT_LISTENER,
            "sasl.enabled.mechanisms": SASL_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SASL_MECHANISM,
            # The credentials a broker presents to the other brokers (replication,
            # transaction markers): the admin's.
            f"listener.name.{CLIENT_LISTENER.lower()}.{SASL_MECHANISM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN}" password="{admin_password}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.server_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "authorizer.class.name": AUTHORIZER,
            "super.users": f"User:{ADMIN};{INTERNAL_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def scram_format_args(self) -> list[str]:
        """`kafka-storage format` options that create every user (the StorageTool's --add-scram)."""
        args: list[str] = []
        for user in self.users:
            # Passwords are URL-safe base64: no quote, comma or bracket to escape.
            args += ["--add-scram", f"{SASL_MECHANISM}=[name={user},password={self.password(user)}]"]
        return args

    def to_state(self) -> dict[str, Any]:
        return {
            "security_protocol": SECURITY_PROTOCOL,
            "sasl_mechanism": SASL_MECHANISM,
            "users": list(self.users),
        }

    @classmethod
    def from_state(cls, folder: Path, state: Mapping[str, Any]) -> ClusterSecurity:
        return cls(folder=Path(folder), users=tuple(state["users"]))


def create_security(folder: Path, users: Sequence[str] = (ADMIN, LINKER)) -> ClusterSecurity:
    """Write a fresh CA, a server certificate and a random password per user into `folder`."""
    names = tuple(dict.fromkeys([ADMIN, *users]))  # admin first, always, once
    security = ClusterSecurity(folder=Path(folder).absolute(), users=names)
    (security.folder / TLS_DIR).mkdir(parents=True, exist_ok=True)
    (security.folder / USERS_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_cert, ca_key = _issue(f"ClusterLink sandbox CA {secrets.token_hex(4)}", ca=True)
    server_cert, server_key = _issue("localhost", issuer=(ca_cert, ca_key))
    security.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    # Kafka's PEM key store: an unencrypted PKCS#8 key followed by the certificate.
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(security.server_file, key_pem + server_cert.public_bytes(serialization.Encoding.PEM))
    for user in names:
        _write_private(security.password_file(user), (secrets.token_urlsafe(24) + "\n").encode())
    return security


def link_acls(role: str, principal: str = f"User:{LINKER}") -> list[Any]:
    """The ACL bindings a link's user needs on its `role` ("source" or "destination") cluster.

    Each was checked by mirroring without it (tests/integration/test_secured_clusters.py
    runs with exactly these). Source: Read topics (fetch), DescribeConfigs on topics
    (a mirror copies its source's configs), Describe groups (consumer offset sync:
    OffsetFetch), Read groups (with PostgreSQL, replicas join one group per link),
    Describe the cluster (ACL sync: DescribeAcls). Destination: Create,
    Write, Read (a resuming mirror reads its last record; OffsetCommit checks Read on
    the topics), Alter (CreatePartitions), AlterConfigs and Delete (DeleteRecords when a
    source log does not start at 0) on topics; Read groups (OffsetCommit); Alter the
    cluster (ACL sync: CreateAcls/DeleteAcls). Describe on topics and groups,
    DescribeConfigs on destination topics, and IdempotentWrite and Describe on the
    destination cluster are implied by the above in Kafka; they are granted anyway so
    that narrowing one of the others (e.g. Read on fewer topics) keeps them.
    The README lists the same ("the ACLs a link needs").
    """
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    if role == "source":
        wanted = {
            ResourceType.TOPIC: (AclOperation.DESCRIBE, AclOperation.READ, AclOperation.DESCRIBE_CONFIGS),
            # Describe: consumer offset sync (OffsetFetch). Read: the replicas' own
            # group per link (JoinGroup), which assigns the partitions.
            ResourceType.GROUP: (AclOperation.DESCRIBE, AclOperation.READ),
            ResourceType.BROKER: (AclOperation.DESCRIBE,),
        }
    elif role == "destination":
        wanted = {
            ResourceType.TOPIC: (
                AclOperation.CREATE, AclOperation.ALTER, AclOperation.ALTER_CONFIGS, AclOperation.DESCRIBE,
                AclOperation.DESCRIBE_CONFIGS, AclOperation.WRITE, AclOperation.DELETE,
                # A resuming mirror reads its last record; OffsetCommit checks Read on topics too.
                AclOperation.READ,
            ),
            ResourceType.GROUP: (AclOperation.READ, AclOperation.DESCRIBE),
            ResourceType.BROKER: (AclOperation.IDEMPOTENT_WRITE, AclOperation.DESCRIBE, AclOperation.ALTER),
        }
    else:
        raise ValueError(f"role must be 'source' or 'destination', not {role!r}")
    bindings = []
    for resource_type, operations in wanted.items():
        # ResourceType.BROKER is librdkafka's name for the CLUSTER resource ("kafka-cluster").
        name = "kafka-cluster" if resource_type == ResourceType.BROKER else "*"
        for operation in operations:
            bindings.append(AclBinding(resource_type, name, ResourcePatternType.LITERAL, principal, "*",
                                       operation, AclPermissionType.ALLOW))
    return bindings


def _issue(common_name: str, issuer: tuple[Any, Any] | None = None, ca: bool = False) -> tuple[Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                             x509.DNSName("localhost")]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                           critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (mode 0600 from the start, not chmod after)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
