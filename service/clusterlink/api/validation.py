"""Pure validation of API input: names, topics, connections, update masks, etags, paging.

Nothing here touches the database, gRPC or Kafka, so every rule is unit
tested on its own. Problems are raised as `ValidationError` (the API answers
INVALID_ARGUMENT); every message names the request field and says what to fix.
Secret values (SASL passwords, TLS private keys) never appear in a message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from clusterlink.config import link_config


class ValidationError(ValueError):
    """Malformed input; the message names the field and the rule."""


# --------------------------------------------------------------------------- names

LINK_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
LINK_ID_RULE = (
    "use 1 to 63 lower-case letters, digits and hyphens, starting with a letter "
    "and ending with a letter or digit (example: dr-east)"
)
TOPIC_MAX_LEN = 249
_TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
TOPIC_RULE = 'use 1 to 249 characters from a-z, A-Z, 0-9, ".", "_" and "-"; "." and ".." are not allowed'

LINK_PREFIX = "links/"
MIRRORS = "mirrorTopics"


def link_id_problem(value: str) -> str | None:
    if LINK_ID_RE.match(value):
        return None
    return f"{value!r} is not a valid link id: {LINK_ID_RULE}"


def check_link_id(value: str, field: str = "link_id") -> str:
    if not value:
        raise ValidationError(f"{field} is required: {LINK_ID_RULE}")
    problem = link_id_problem(value)
    if problem:
        raise ValidationError(f"{field}: {problem}")
    return value


def topic_problem(value: str) -> str | None:
    """Why Kafka would refuse `value` as a topic name, or None."""
    if not value:
        return "is empty"
    if value in (".", ".."):
        return f"{value!r} is not allowed as a topic name"
    if len(value) > TOPIC_MAX_LEN:
        return f"is {len(value)} characters long; at most {TOPIC_MAX_LEN} are allowed"
    if not _TOPIC_RE.match(value):
        return f"{value!r} contains characters Kafka does not allow in a topic name"
    return None


def check_topic(value: str, field: str) -> str:
    if not value:
        raise ValidationError(f"{field} is required: {TOPIC_RULE}")
    problem = topic_problem(value)
    if problem:
        raise ValidationError(f"{field}: {problem}; {TOPIC_RULE}")
    return value


def link_name(link_id: str) -> str:
    return f"{LINK_PREFIX}{link_id}"


def mirror_topic_name(link_id: str, topic: str) -> str:
    return f"{LINK_PREFIX}{link_id}/{MIRRORS}/{topic}"


def parse_link_name(name: str, field: str = "name") -> str:
    """`links/{link}` -> link id."""
    if not name:
        raise ValidationError(f"{field} is required (format: links/{{link}}, example: links/dr-east)")
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "links":
        raise ValidationError(
            f"{field}: {name!r} is not a link name (format: links/{{link}}, example: links/dr-east)"
        )
    problem = link_id_problem(parts[1])
    if problem:
        raise ValidationError(f"{field}: {problem}")
    return parts[1]


def parse_mirror_topic_name(name: str, field: str = "name") -> tuple[str, str]:
    """`links/{link}/mirrorTopics/{topic}` -> (link id, topic)."""
    fmt = "format: links/{link}/mirrorTopics/{topic}, example: links/dr-east/mirrorTopics/orders"
    if not name:
        raise ValidationError(f"{field} is required ({fmt})")
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "links" or parts[2] != MIRRORS:
        raise ValidationError(f"{field}: {name!r} is not a mirror topic name ({fmt})")
    problem = link_id_problem(parts[1])
    if problem:
        raise ValidationError(f"{field}: {problem}")
    problem = topic_problem(parts[3])
    if problem:
        raise ValidationError(f"{field}: the topic {problem}; {TOPIC_RULE}")
    return parts[1], parts[3]


# --------------------------------------------------------------------------- bootstrap servers

BOOTSTRAP_EXAMPLE = "10.0.0.1:9092"
_LABEL_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")


def _host_ok(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        # Looks like an IPv4 address, so it must be one.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return all(_LABEL_RE.match(label) for label in labels)


def _ipv6_ok(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def bootstrap_entry_problem(entry: str) -> str | None:
    """Why one `host:port` entry is wrong, or None."""
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0 or entry[close + 1 : close + 2] != ":" or not _ipv6_ok(entry[1:close]):
            return "is not host:port"
        port = entry[close + 2 :]
    else:
        host, sep, port = entry.rpartition(":")
        if not sep or not host:
            return "is not host:port"
        if ":" in host:
            return "is not host:port (write an IPv6 address in brackets, e.g. [::1]:9092)"
        if not _host_ok(host):
            return "is not host:port (the host is not a valid hostname or IPv4 address)"
    if not _PORT_RE.match(port) or not 1 <= int(port) <= 65535:
        return "is not host:port (the port must be a number from 1 to 65535)"
    return None


def check_bootstrap(value: str, field: str) -> list[str]:
    """Problems with a comma-separated `host:port` list (empty when fine)."""
    if not value:
        return [f"{field} is required (example: {BOOTSTRAP_EXAMPLE})"]
    if "://" in value:
        return [
            f"{field}: {value!r} is not host:port (example: {BOOTSTRAP_EXAMPLE}); "
            "leave out the scheme, set security_protocol instead"
        ]
    if any(ch.isspace() for ch in value):
        return [f"{field}: {value!r} is not host:port (example: {BOOTSTRAP_EXAMPLE}); spaces are not allowed"]
    problems = []
    for entry in value.split(","):
        if not entry:
            problems.append(f"{field}: {value!r} has an empty entry (example: 10.0.0.1:9092,10.0.0.2:9092)")
            continue
        problem = bootstrap_entry_problem(entry)
        if problem:
            problems.append(f"{field}: {entry!r} {problem} (example: {BOOTSTRAP_EXAMPLE})")
    return problems


# --------------------------------------------------------------------------- connections

# Non-secret fields, stored as JSON in links.source / links.destination.
CONNECTION_FIELDS = (
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "ssl_ca_pem",
    "ssl_certificate_pem",
)
# Write-only fields, sealed with SecretBox into links.*_secrets.
SECRET_FIELDS = ("sasl_password", "ssl_key_pem")
OUTPUT_ONLY_CONNECTION_FIELDS = ("sasl_password_set", "ssl_key_set")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PEM_MARK = "-----BEGIN"


def effective_security_protocol(fields: Mapping[str, str]) -> str:
    """The protocol to use: PLAINTEXT when the stored value is empty."""
    return fields.get("security_protocol") or "PLAINTEXT"


@dataclass(frozen=True)
class Connection:
    """One side of a link as the API handles it.

    `fields` holds the non-secret values (every key of CONNECTION_FIELDS),
    `secrets` the write-only ones (only non-empty keys of SECRET_FIELDS), and
    `given` the secret fields this request supplied (as opposed to kept from
    the store); a stored secret that the protocol no longer uses is dropped,
    a given one is refused.
    """

    fields: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    given: frozenset[str] = frozenset()

    @classmethod
    def make(cls, fields: Mapping[str, str], secrets: Mapping[str, str], given: Iterable[str] = ()) -> Connection:
        return cls(
            {k: str(fields.get(k) or "") for k in CONNECTION_FIELDS},
            {k: v for k, v in secrets.items() if k in SECRET_FIELDS and v},
            frozenset(given),
        )


def _unused(field: str, name: str, used_with: str, protocol: str) -> str:
    return (
        f"{field}.{name} is only used with {used_with}, "
        f"but security_protocol is {protocol}; leave it empty or change security_protocol"
    )


def check_connection(conn: Connection, field: str) -> tuple[Connection, list[str]]:
    """Validates one connection; returns it (inapplicable stored secrets dropped) and the problems."""
    f = conn.fields
    problems = check_bootstrap(f.get("bootstrap_servers", ""), f"{field}.bootstrap_servers")
    raw_protocol = f.get("security_protocol", "")
    if raw_protocol and raw_protocol not in SECURITY_PROTOCOLS:
        problems.append(
            f"{field}.security_protocol: {raw_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)} "
            "(empty means PLAINTEXT)"
        )
        return conn, problems
    protocol = raw_protocol or "PLAINTEXT"
    secrets = dict(conn.secrets)

    if protocol in SASL_PROTOCOLS:
        mechanism = f.get("sasl_mechanism", "")
        if not mechanism:
            problems.append(
                f"{field}.sasl_mechanism is required with {protocol}: one of {', '.join(SASL_MECHANISMS)}"
            )
        elif mechanism not in SASL_MECHANISMS:
            problems.append(
                f"{field}.sasl_mechanism: {mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
            )
        if not f.get("sasl_username"):
            problems.append(f"{field}.sasl_username is required with {protocol}")
        if not secrets.get("sasl_password"):
            problems.append(f"{field}.sasl_password is required with {protocol} (none is given or stored)")
    else:
        for name in ("sasl_mechanism", "sasl_username"):
            if f.get(name):
                problems.append(_unused(field, name, "SASL_PLAINTEXT or SASL_SSL", protocol))
        if "sasl_password" in secrets:
            if "sasl_password" in conn.given:
                problems.append(_unused(field, "sasl_password", "SASL_PLAINTEXT or SASL_SSL", protocol))
            else:
                del secrets["sasl_password"]  # stored, no longer used

    if protocol in SSL_PROTOCOLS:
        for name in ("ssl_ca_pem", "ssl_certificate_pem"):
            value = f.get(name, "")
            if value and PEM_MARK not in value:
                problems.append(f"{field}.{name} does not look like PEM (it must contain '-----BEGIN ...')")
        key = secrets.get("ssl_key_pem", "")
        if key:
            if "ssl_key_pem" in conn.given and PEM_MARK not in key:
                problems.append(
                    f"{field}.ssl_key_pem does not look like PEM (it must contain '-----BEGIN ... PRIVATE KEY')"
                )
            if not f.get("ssl_certificate_pem"):
                hint = "" if "ssl_key_pem" in conn.given else (
                    f" (a key is stored; clear it with update_mask path "
                    f"{field.split('.', 1)[-1]}.ssl_key_pem)"
                )
                problems.append(f"{field}.ssl_key_pem needs {field}.ssl_certificate_pem{hint}")
    else:
        for name in ("ssl_ca_pem", "ssl_certificate_pem"):
            if f.get(name):
                problems.append(_unused(field, name, "SSL or SASL_SSL", protocol))
        if "ssl_key_pem" in secrets:
            if "ssl_key_pem" in conn.given:
                problems.append(_unused(field, "ssl_key_pem", "SSL or SASL_SSL", protocol))
            else:
                del secrets["ssl_key_pem"]

    return replace(conn, secrets=secrets), problems


# --------------------------------------------------------------------------- link spec

@dataclass(frozen=True)
class LinkSpec:
    """The user-settable part of a link."""

    source: Connection
    destination: Connection
    config: dict[str, str]
    paused: bool


def check_config(config: Mapping[str, str], field: str = "link.config") -> list[str]:
    return [f"{field}: {problem}" for problem in link_config.validate(config)]


def check_link_spec(spec: LinkSpec, field: str = "link") -> LinkSpec:
    """Validates a whole link; raises one ValidationError listing every problem."""
    source, problems = check_connection(spec.source, f"{field}.source")
    destination, more = check_connection(spec.destination, f"{field}.destination")
    problems += more
    problems += check_config(spec.config, f"{field}.config")
    if problems:
        raise ValidationError("; ".join(problems))
    return replace(spec, source=source, destination=destination)


# --------------------------------------------------------------------------- update masks

UPDATABLE = ("source", "destination", "config", "paused")
_CONN_INPUT = CONNECTION_FIELDS + SECRET_FIELDS
MASK_RULE = (
    "allowed paths: source, destination, config, paused, source.<field>, destination.<field>, "
    f"config.<key> (connection fields: {', '.join(_CONN_INPUT)})"
)


def check_mask(paths: Sequence[str]) -> list[str]:
    """Validates update_mask paths; returns them (with '*' expanded)."""
    out: list[str] = []
    for path in paths:
        if path == "*":
            out.extend(UPDATABLE)
            continue
        top, dot, sub = path.partition(".")
        if not dot and top in UPDATABLE:
            out.append(path)
            continue
        if dot and top in ("source", "destination"):
            if sub in _CONN_INPUT:
                out.append(path)
                continue
            if sub in OUTPUT_ONLY_CONNECTION_FIELDS:
                raise ValidationError(f"update_mask: path {path!r} is output only; {MASK_RULE}")
            raise ValidationError(f"update_mask: path {path!r} names no connection field; {MASK_RULE}")
        if dot and top == "config" and sub:
            out.append(path)
            continue
        raise ValidationError(f"update_mask: path {path!r} cannot be updated; {MASK_RULE}")
    return out


def _replace_connection(current: Connection, request: Connection, cleared: set[str]) -> Connection:
    secrets = {}
    given = set()
    for name in SECRET_FIELDS:
        if request.secrets.get(name):
            secrets[name] = request.secrets[name]
            given.add(name)
        elif name not in cleared and current.secrets.get(name):
            secrets[name] = current.secrets[name]
    return Connection(dict(request.fields), secrets, frozenset(given))


def apply_update(
    current: LinkSpec,
    request: LinkSpec,
    paths: Sequence[str],
    *,
    has_source: bool = True,
    has_destination: bool = True,
) -> LinkSpec:
    """Merges `request` into `current` as `paths` (already checked) say.

    An empty mask updates source and destination when the request carries
    them, and config and paused always (proto3 cannot tell those apart from
    unset). Replacing a whole connection keeps a stored secret the request
    leaves empty, unless the mask also names that secret field (which clears
    it).
    """
    if not paths:
        paths = [p for p, present in (("source", has_source), ("destination", has_destination)) if present]
        paths += ["config", "paused"]
    sides = {"source": current.source, "destination": current.destination}
    req_sides = {"source": request.source, "destination": request.destination}
    explicit: dict[str, set[str]] = {"source": set(), "destination": set()}
    for path in paths:
        top, _, sub = path.partition(".")
        if top in sides and sub in SECRET_FIELDS:
            explicit[top].add(sub)
    config = dict(current.config)
    paused = current.paused
    for path in paths:
        top, dot, sub = path.partition(".")
        if top in sides and not dot:
            sides[top] = _replace_connection(sides[top], req_sides[top], explicit[top])
        elif top in sides:
            conn = sides[top]
            if sub in SECRET_FIELDS:
                secrets = dict(conn.secrets)
                given = set(conn.given)
                value = req_sides[top].secrets.get(sub, "")
                if value:
                    secrets[sub] = value
                    given.add(sub)
                else:
                    secrets.pop(sub, None)
                    given.discard(sub)
                sides[top] = Connection(dict(conn.fields), secrets, frozenset(given))
            else:
                fields = dict(conn.fields)
                fields[sub] = req_sides[top].fields.get(sub, "")
                sides[top] = replace(conn, fields=fields)
        elif path == "config":
            config = dict(request.config)
        elif top == "config":
            if sub in request.config:
                config[sub] = request.config[sub]
            else:
                config.pop(sub, None)
        elif path == "paused":
            paused = request.paused
    return LinkSpec(sides["source"], sides["destination"], config, paused)


# --------------------------------------------------------------------------- etags, paging, offsets

def etag(version: int) -> str:
    return f'"{version}"'


def etag_matches(given: str, version: int) -> bool:
    """An empty etag always matches; otherwise it must be the current one (quotes optional)."""
    if not given:
        return True
    given = given.strip()
    if given.startswith("W/"):
        given = given[2:]
    return given.strip('"') == str(version)


DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise ValidationError(f"{field}: {value} is negative; use 0 for the default ({DEFAULT_PAGE_SIZE}) or up to {MAX_PAGE_SIZE}")
    if value == 0:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def encode_page_token(collection: str, after: str) -> str:
    raw = json.dumps({"c": collection, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, collection: str, field: str = "page_token") -> str | None:
    """Returns the last name of the previous page, or None for the first page."""
    if not token:
        return None
    bad = ValidationError(
        f"{field} is not valid here: pass the next_page_token of the previous response unchanged, "
        "with the same parent"
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("c") != collection or not isinstance(data.get("a"), str):
        raise bad
    return data["a"]


MAX_TRANSLATE_OFFSETS = 10_000


def check_partition(value: int, field: str = "partition", allow_all: bool = False) -> int:
    if allow_all and value == -1:
        return value
    if value < 0:
        extra = " (or -1 for all partitions)" if allow_all else ""
        raise ValidationError(f"{field}: {value} is not a partition number; use 0 or more{extra}")
    return value


def check_source_offsets(offsets: Sequence[int], field: str = "source_offsets") -> list[int]:
    if len(offsets) > MAX_TRANSLATE_OFFSETS:
        raise ValidationError(f"{field}: {len(offsets)} offsets given; at most {MAX_TRANSLATE_OFFSETS} per call")
    for index, offset in enumerate(offsets):
        if offset < 0:
            raise ValidationError(f"{field}[{index}]: {offset} is negative; offsets start at 0")
    return list(offsets)
