"""What the resources and data sources share: the client, error handling, plan helpers."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from tf.iface import PlanContext
from tf.types import Unknown
from tf.utils import Diagnostics

from clusterlink_terraform.client import Client, ServiceError
from clusterlink_terraform.schema_types import conform

if TYPE_CHECKING:  # pragma: no cover
    from clusterlink_terraform.provider import ClusterLinkProvider

F = TypeVar("F", bound=Callable[..., Any])

# How long apply waits for a promotion to finish, and for a deleted mirror to go (seconds).
PROMOTE_TIMEOUT = 600.0
# How long creating a mirror waits for it to leave PENDING (destination topic prepared).
START_TIMEOUT = 600.0
DELETE_TIMEOUT = 300.0
POLL_INTERVAL = 0.5


@dataclass
class ConfigPlanContext(PlanContext):
    """tf's PlanContext plus the resource's configuration (null where not set).

    tf 1.2 does not pass the configuration to `plan()`; without it a default
    cannot tell "not set" from "set to the prior value". `plan()` adds to
    `requires_replace` the paths inside blocks whose change replaces the object
    (tf only knows `requires_replace` of top-level attributes).
    """

    config: dict | None = None
    prior: dict | None = None
    requires_replace: list[list[str]] = field(default_factory=list)


def diagnose(diags: Diagnostics, err: BaseException, path: list[str] | None = None) -> None:
    """Adds one error diagnostic for `err` (no stack trace for the user)."""
    if isinstance(err, ServiceError):
        diags.add_error(err.summary, err.detail, path=path)
    elif isinstance(err, ValueError):  # e.g. a malformed import id; the message says what to write
        diags.add_error(str(err), "", path=path)
    else:
        traceback.print_exc(file=sys.stderr)  # lands in Terraform's log (TF_LOG=DEBUG)
        diags.add_error(
            f"internal error in the ClusterLink provider: {type(err).__name__}: {err}",
            "This is a bug in terraform-provider-clusterlink; set TF_LOG=DEBUG to see the stack trace.",
            path=path,
        )


def guarded(fallback: int | None) -> Callable[[F], F]:
    """Wraps a resource method `fn(self, ctx, *args)` so that a failure becomes an error
    diagnostic. It then returns the state a `WithState` error carries, else `args[fallback]`
    (e.g. the prior state of an update), else None (nothing was created)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(self: Any, ctx: Any, *args: Any) -> Any:
            try:
                return fn(self, ctx, *args)
            except Exception as exc:  # noqa: BLE001 - every failure must become a diagnostic
                diagnose(ctx.diagnostics, exc)
                if isinstance(exc, WithState):
                    return exc.state
                return args[fallback] if fallback is not None else None

        return wrapper  # type: ignore[return-value]

    return decorate


class WithState(ServiceError):
    """A ServiceError that carries the resource value to record despite the failure."""

    def __init__(self, err: ServiceError, state: dict | None) -> None:
        super().__init__(err.summary, err.detail, err.code)
        self.state = state


class Base:
    def __init__(self, provider: ClusterLinkProvider) -> None:
        self.provider = provider

    @property
    def client(self) -> Client:
        client = self.provider.client
        if client is None:
            raise ServiceError(
                "the ClusterLink provider is not configured",
                self.provider.config_problem or "ConfigureProvider did not run or failed.",
            )
        return client

    def upgrade(self, ctx: Any, version: int, old: dict) -> dict:
        """A state stored under an earlier schema version (Terraform asks when the resource's
        version is higher): the current schema's attributes and blocks, those the old state lacks
        null (the next refresh reads them), those no longer in the schema dropped. Terraform
        refuses a state that lacks an attribute, so adding one needs a version bump."""
        return conform(type(self).get_schema(), old)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- plan helpers

def is_known(value: Any) -> bool:
    """True when `value` holds no unknown part."""
    if value is Unknown:
        return False
    if isinstance(value, Mapping):
        return all(is_known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_known(v) for v in value)
    return True


def apply_default(planned: dict, config: Mapping[str, Any] | None, name: str, default: Any) -> None:
    """An optional attribute that is not set in the configuration takes `default`."""
    if config is None or config.get(name) is None:
        planned[name] = default


def mark_unknown(planned: dict, names: Iterable[str]) -> None:
    for name in names:
        planned[name] = Unknown


def differs(prior: Mapping[str, Any] | None, planned: Mapping[str, Any], names: Iterable[str]) -> set[str]:
    """The names whose planned value is not the prior one (an unknown value counts as a change)."""
    prior = prior or {}
    return {n for n in names if not is_known(planned.get(n)) or prior.get(n) != planned.get(n)}


def is_not_found(err: ServiceError) -> bool:
    return err.code == grpc.StatusCode.NOT_FOUND
