"""Pure validation of API input: names, topics, connections, update masks, etags, paging.

Nothing here touches the database, gRPC or Kafka, so every rule is unit
tested on its own. Problems are raised as `ValidationError` (the API answers
INVALID_ARGUMENT); every message names the request field and says what to fix.
Secret values (SASL passwords, TLS private keys) never appear in a message.
"""

from __future__ import annotations

import ipaddress
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from cryptography.fernet import InvalidToken

from clusterlink.config import link_config


class ValidationError(ValueError):
    """Malformed input; the message names the field and the rule."""


# --------------------------------------------------------------------------- quoting and messages

# A bad value is quoted with at most this many characters, escaped to ASCII so
# that control characters, other scripts' digits and look-alikes are visible.
QUOTE_LIMIT = 32
# Whole messages stay below this (gRPC carries them in a header; clients
# refuse headers above 8-16 KiB).
MESSAGE_LIMIT = 900


def shown(value: str, limit: int = QUOTE_LIMIT) -> str:
    """`value` quoted for a message or a log line: ASCII only, at most `limit` characters of it."""
    if len(value) <= limit:
        return ascii(value)
    return f"{ascii(value[:limit])}... ({len(value)} characters)"


def join_problems(problems: Sequence[str], limit: int = MESSAGE_LIMIT) -> str:
    """Problems joined with '; ', as many as fit in `limit` characters (the first always)."""
    out: list[str] = []
    length = 0
    for index, problem in enumerate(problems):
        if out and length + len(problem) + 2 > limit:
            rest = len(problems) - index
            out.append(f"and {rest} more problem{'s' if rest != 1 else ''}")
            break
        out.append(problem)
        length += len(problem) + 2
    return "; ".join(out)


def has_control(value: str, allowed: str = "") -> bool:
    """True when `value` holds a control character (Unicode Cc: C0, DEL, C1) not in `allowed`."""
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def text_problem(value: str, max_len: int, allowed_controls: str = "") -> str | None:
    """The generic rule of every free-text field: at most `max_len` characters, no control characters."""
    if len(value) > max_len:
        return f"is {len(value)} characters long; at most {max_len} are allowed"
    if has_control(value, allowed_controls):
        return "contains a control character (such as a newline or NUL), which is not allowed"
    return None


# --------------------------------------------------------------------------- names

LINK_ID_MAX_LEN = 63
LINK_ID_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
LINK_ID_RULE = (
    "use 1 to 63 lower-case letters, digits and hyphens, starting with a letter "
    "and ending with a letter or digit (example: dr-east)"
)
TOPIC_MAX_LEN = 249
TOPIC_RE = re.compile(r"[a-zA-Z0-9._-]{1,249}")
TOPIC_RULE = 'use 1 to 249 characters from a-z, A-Z, 0-9, ".", "_" and "-"; "." and ".." are not allowed'

LINK_PREFIX = "links/"
MIRRORS = "mirrorTopics"
LINK_NAME_FORMAT = "format: links/{link}, example: links/dr-east"
MIRROR_NAME_FORMAT = "format: links/{link}/mirrorTopics/{topic}, example: links/dr-east/mirrorTopics/orders"
LINK_NAME_MAX_LEN = len(LINK_PREFIX) + LINK_ID_MAX_LEN
MIRROR_NAME_MAX_LEN = LINK_NAME_MAX_LEN + len(f"/{MIRRORS}/") + TOPIC_MAX_LEN


def link_id_ok(value: str) -> bool:
    return LINK_ID_RE.fullmatch(value) is not None


def topic_ok(value: str) -> bool:
    return TOPIC_RE.fullmatch(value) is not None and value not in (".", "..")


def link_id_problem(value: str) -> str | None:
    if link_id_ok(value):
        return None
    return f"{shown(value)} is not a valid link id: {LINK_ID_RULE}"


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
        return f"{shown(value)} is not allowed as a topic name"
    if len(value) > TOPIC_MAX_LEN:
        return f"{shown(value)} is {len(value)} characters long; at most {TOPIC_MAX_LEN} are allowed"
    if not TOPIC_RE.fullmatch(value):
        return f"{shown(value)} contains characters Kafka does not allow in a topic name"
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
        raise ValidationError(f"{field} is required ({LINK_NAME_FORMAT})")
    if len(name) > LINK_NAME_MAX_LEN:
        raise ValidationError(
            f"{field}: {shown(name)} is not a link name: at most {LINK_NAME_MAX_LEN} characters "
            f"({LINK_NAME_FORMAT})"
        )
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "links":
        raise ValidationError(f"{field}: {shown(name)} is not a link name ({LINK_NAME_FORMAT})")
    problem = link_id_problem(parts[1])
    if problem:
        raise ValidationError(f"{field}: {problem}")
    return parts[1]


def parse_mirror_topic_name(name: str, field: str = "name") -> tuple[str, str]:
    """`links/{link}/mirrorTopics/{topic}` -> (link id, topic)."""
    if not name:
        raise ValidationError(f"{field} is required ({MIRROR_NAME_FORMAT})")
    if len(name) > MIRROR_NAME_MAX_LEN:
        raise ValidationError(
            f"{field}: {shown(name)} is not a mirror topic name: at most {MIRROR_NAME_MAX_LEN} characters "
            f"({MIRROR_NAME_FORMAT})"
        )
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "links" or parts[2] != MIRRORS:
        raise ValidationError(f"{field}: {shown(name)} is not a mirror topic name ({MIRROR_NAME_FORMAT})")
    problem = link_id_problem(parts[1])
    if problem:
        raise ValidationError(f"{field}: {problem}")
    problem = topic_problem(parts[3])
    if problem:
        raise ValidationError(f"{field}: the topic {problem}; {TOPIC_RULE}")
    return parts[1], parts[3]


# --------------------------------------------------------------------------- bootstrap servers

BOOTSTRAP_EXAMPLE = "10.0.0.1:9092"
BOOTSTRAP_MAX_LEN = 4096
BOOTSTRAP_MAX_ENTRIES = 100
# Problems of one list reported in one answer (the rest are summed up).
_MAX_ENTRY_PROBLEMS = 3
_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_DIGITS_RE = re.compile(r"[0-9]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")


def _host_ok(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if all(_DIGITS_RE.fullmatch(label) for label in labels):
        # Looks like an IPv4 address, so it must be one.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return all(_LABEL_RE.fullmatch(label) for label in labels)


def _ipv6_ok(host: str) -> bool:
    if not re.fullmatch(r"[0-9A-Fa-f:.]{2,45}", host):
        return False  # no zone ids, no other scripts' digits
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
    if not _PORT_RE.fullmatch(port) or not 1 <= int(port) <= 65535:
        return "is not host:port (the port must be a number from 1 to 65535)"
    return None


def check_bootstrap(value: str, field: str) -> list[str]:
    """Problems with a comma-separated `host:port` list (empty when fine)."""
    if not value:
        return [f"{field} is required (example: {BOOTSTRAP_EXAMPLE})"]
    if len(value) > BOOTSTRAP_MAX_LEN:
        return [
            f"{field}: {shown(value)} is too long: at most {BOOTSTRAP_MAX_LEN} characters "
            f"(example: {BOOTSTRAP_EXAMPLE})"
        ]
    if "://" in value:
        return [
            f"{field}: {shown(value)} is not host:port (example: {BOOTSTRAP_EXAMPLE}); "
            "leave out the scheme, set security_protocol instead"
        ]
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        return [
            f"{field}: {shown(value)} is not host:port (example: {BOOTSTRAP_EXAMPLE}); "
            "spaces and control characters are not allowed"
        ]
    entries = value.split(",")
    if len(entries) > BOOTSTRAP_MAX_ENTRIES:
        return [f"{field}: {len(entries)} entries given; at most {BOOTSTRAP_MAX_ENTRIES} are allowed"]
    problems = []
    for entry in entries:
        if not entry:
            problem = f"{field}: {shown(value)} has an empty entry (example: 10.0.0.1:9092,10.0.0.2:9092)"
        else:
            why = bootstrap_entry_problem(entry)
            problem = f"{field}: {shown(entry)} {why} (example: {BOOTSTRAP_EXAMPLE})" if why else ""
        if problem and problem not in problems:
            problems.append(problem)
    if len(problems) > _MAX_ENTRY_PROBLEMS:
        more = len(problems) - _MAX_ENTRY_PROBLEMS
        problems = problems[:_MAX_ENTRY_PROBLEMS] + [f"{field}: {more} more bad entr{'ies' if more != 1 else 'y'}"]
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
# Longest value of each connection field (bootstrap_servers: BOOTSTRAP_MAX_LEN).
# A CA bundle may be large (the whole Mozilla bundle is about 220 KB).
FIELD_MAX_LEN = {
    "security_protocol": 32,
    "sasl_mechanism": 32,
    "sasl_username": 256,
    "sasl_password": 1024,
    "ssl_ca_pem": 256 * 1024,
    "ssl_certificate_pem": 64 * 1024,
    "ssl_key_pem": 64 * 1024,
}
# PEM text has line breaks (and sometimes tabs); no other control characters anywhere.
_PEM_CONTROLS = "\n\r\t"
_PEM_FIELDS = frozenset({"ssl_ca_pem", "ssl_certificate_pem", "ssl_key_pem"})


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
    # The generic rule first (length, control characters); secrets are never quoted.
    generic = []
    for name in ("sasl_username", "ssl_ca_pem", "ssl_certificate_pem"):
        problem = text_problem(f.get(name, ""), FIELD_MAX_LEN[name], _PEM_CONTROLS if name in _PEM_FIELDS else "")
        if problem:
            generic.append(f"{field}.{name} {problem}")
    for name in SECRET_FIELDS:
        if name in conn.given:
            value = conn.secrets.get(name, "")
            problem = text_problem(value, FIELD_MAX_LEN[name], _PEM_CONTROLS if name in _PEM_FIELDS else "")
            if problem:
                generic.append(f"{field}.{name} {problem}")
    if generic:
        return conn, problems + generic
    raw_protocol = f.get("security_protocol", "")
    if raw_protocol and raw_protocol not in SECURITY_PROTOCOLS:
        problems.append(
            f"{field}.security_protocol: {shown(raw_protocol)} is not one of {', '.join(SECURITY_PROTOCOLS)} "
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
                f"{field}.sasl_mechanism: {shown(mechanism)} is not one of {', '.join(SASL_MECHANISMS)}"
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


CONFIG_MAX_ENTRIES = 64


def _known_keys(limit: int = 400) -> str:
    """The known config keys, as many as fit in `limit` characters."""
    keys = sorted(link_config.KNOBS)
    text = ", ".join(keys)
    if len(text) <= limit:
        return text
    shown_keys: list[str] = []
    for key in keys:
        if len(", ".join([*shown_keys, key])) > limit:
            break
        shown_keys.append(key)
    return ", ".join(shown_keys) + f" and {len(keys) - len(shown_keys)} more ('clusterlink link config-keys' lists them)"


def check_config(config: Mapping[str, str], field: str = "link.config") -> list[str]:
    """Problems of a link config map: known keys only, each value by its key's rule.

    The rules are link_config.KNOBS'; the messages are worded here so that they
    quote at most the first characters of a bad key or value.
    """
    known = _known_keys()
    if len(config) > CONFIG_MAX_ENTRIES:
        return [f"{field}: {len(config)} keys given; at most {CONFIG_MAX_ENTRIES} (known keys: {known})"]
    unknown = sorted(key for key in config if key not in link_config.KNOBS)
    problems = []
    if unknown:
        names = ", ".join(shown(key) for key in unknown[:3])
        if len(unknown) > 3:
            names += f" and {len(unknown) - 3} more"
        verb = "is" if len(unknown) == 1 else "are"
        problems.append(f"{field}: config key{'s' if len(unknown) > 1 else ''} {names} {verb} unknown; known keys: {known}")
    for key, value in sorted(config.items()):
        knob = link_config.KNOBS.get(key)
        if knob is None:
            continue
        # The knob's own rule first (it names the allowed form), then the generic one.
        problem = (
            text_problem(value, knob.max_len)
            if len(value) > knob.max_len
            else knob.check(value) or text_problem(value, knob.max_len)
        )
        if problem:
            problems.append(f"{field}: config {key}={shown(value)} {problem}")
    if not problems:
        problems += [f"{field}: {p}" for p in link_config.combination_problems(config)]
    return problems


def check_link_spec(spec: LinkSpec, field: str = "link") -> LinkSpec:
    """Validates a whole link; raises one ValidationError listing every problem."""
    source, problems = check_connection(spec.source, f"{field}.source")
    destination, more = check_connection(spec.destination, f"{field}.destination")
    problems += more
    problems += check_config(spec.config, f"{field}.config")
    if problems:
        raise ValidationError(join_problems(problems))
    return replace(spec, source=source, destination=destination)


# --------------------------------------------------------------------------- update masks

UPDATABLE = ("source", "destination", "config", "paused")
_CONN_INPUT = CONNECTION_FIELDS + SECRET_FIELDS
MASK_RULE = (
    "allowed paths: source, destination, config, paused, source.<field>, destination.<field>, "
    f"config.<key> (connection fields: {', '.join(_CONN_INPUT)})"
)


MASK_MAX_PATHS = 100
MASK_PATH_MAX_LEN = 128


def check_mask(paths: Sequence[str]) -> list[str]:
    """Validates update_mask paths; returns them (with '*' expanded)."""
    if len(paths) > MASK_MAX_PATHS:
        raise ValidationError(f"update_mask: {len(paths)} paths given; at most {MASK_MAX_PATHS} are allowed")
    out: list[str] = []
    for path in paths:
        if len(path) > MASK_PATH_MAX_LEN or has_control(path):
            raise ValidationError(f"update_mask: path {shown(path)} cannot be updated; {MASK_RULE}")
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
                raise ValidationError(f"update_mask: path {shown(path)} is output only; {MASK_RULE}")
            raise ValidationError(f"update_mask: path {shown(path)} names no connection field; {MASK_RULE}")
        if dot and top == "config" and sub:
            out.append(path)
            continue
        raise ValidationError(f"update_mask: path {shown(path)} cannot be updated; {MASK_RULE}")
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

ETAG_RE = re.compile(r'(?:W/)?"[0-9]{1,18}"|[0-9]{1,18}')
ETAG_RULE = 'send the etag you read unchanged (example: "3"), or leave it empty'


def etag(version: int) -> str:
    return f'"{version}"'


def check_etag(given: str, field: str) -> str:
    """An etag is empty, or `"N"` (quotes and a W/ prefix optional)."""
    if given and not ETAG_RE.fullmatch(given):
        raise ValidationError(f"{field}: {shown(given)} is not an etag; {ETAG_RULE}")
    return given


def etag_matches(given: str, version: int) -> bool:
    """An empty etag always matches; otherwise it must be the current one (quotes optional)."""
    if not given:
        return True
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


class TokenCipher(Protocol):
    """What page tokens need of a cryptography.fernet.Fernet."""

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes: ...

    def extract_timestamp(self, token: bytes | str) -> int: ...

    def decrypt(self, token: bytes | str, ttl: int | None = None) -> bytes: ...


PAGE_TOKEN_MAX_LEN = 1024
PAGE_TOKEN_TTL = 3600
# Base64url with its padding, and nothing after it.
_PAGE_TOKEN_RE = re.compile(r"(?:[A-Za-z0-9_-]{4})*[A-Za-z0-9_-]{2,4}={0,2}")
_PAGE_TOKEN_VERSION = b"1"
_RESTART = "start the list again without a page_token"


class PageTokens:
    """Opaque, bounded, expiring page tokens bound to the list they page through.

    A token is a Fernet token (AES and HMAC with the service's secret key,
    with its time of issue) of `version NUL list NUL last-name`. So a client
    cannot read or forge one; a token that is malformed, altered, issued by
    another service, for another list, or older than `ttl` seconds is refused
    with a ValidationError (INVALID_ARGUMENT), and the last name inside is
    checked against the list's name rule before it is used.
    """

    def __init__(self, cipher: TokenCipher, ttl: int = PAGE_TOKEN_TTL, clock: Callable[[], float] = time.time) -> None:
        self._cipher = cipher
        self._ttl = ttl
        self._clock = clock

    def encode(self, collection: str, after: str) -> str:
        payload = b"\0".join((_PAGE_TOKEN_VERSION, collection.encode(), after.encode()))
        return self._cipher.encrypt_at_time(payload, int(self._clock())).decode("ascii")

    def decode(self, token: str, collection: str, field: str = "page_token") -> str | None:
        """The last name of the previous page, or None for the first page."""
        if not token:
            return None
        malformed = ValidationError(
            f"{field}: {shown(token)} is not a page token of this service; "
            f"pass the next_page_token of the previous response unchanged, or {_RESTART}"
        )
        if len(token) > PAGE_TOKEN_MAX_LEN or len(token) % 4 or not _PAGE_TOKEN_RE.fullmatch(token):
            raise malformed
        try:
            issued = self._cipher.extract_timestamp(token)
            payload = self._cipher.decrypt(token)
        except (InvalidToken, ValueError, TypeError):
            raise malformed from None
        age = int(self._clock()) - issued
        if age > self._ttl or age < -60:
            raise ValidationError(f"{field}: the page token has expired (it is valid for {self._ttl} s); {_RESTART}")
        parts = payload.split(b"\0")
        if len(parts) != 3 or parts[0] != _PAGE_TOKEN_VERSION:
            raise ValidationError(f"{field}: the page token is from another version of the service; {_RESTART}")
        if parts[1] != collection.encode():
            raise ValidationError(
                f"{field}: the page token belongs to another list; pass it with the same parent as the "
                f"request that returned it, or {_RESTART}"
            )
        try:
            after = parts[2].decode()
        except UnicodeDecodeError:
            raise malformed from None
        ok = link_id_ok(after) if collection == "links" else topic_ok(after)
        if not ok:
            raise malformed
        return after


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
