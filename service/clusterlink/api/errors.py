"""API errors and how every exception maps to a gRPC status.

Handlers raise `ApiError` (with a code) or a pure `ValidationError`; the
`rpc` decorator turns whatever escapes into a status with an actionable
message, so a client never sees UNKNOWN. Database errors are reduced to
their first line, without SQL or parameters (which could hold sealed
secrets), and a crash is logged here and answered as INTERNAL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from sqlalchemy import exc as sa_exc

from clusterlink.api.validation import ValidationError
from clusterlink.store.lifecycle import TransitionError
from clusterlink.store.secrets import SecretKeyError

log = logging.getLogger("clusterlink.api")

F = TypeVar("F", bound=Callable[..., Any])


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Conflict(Exception):
    """A compare-and-set write lost a race; the unit of work is retried once."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, message)


def already_exists(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.ALREADY_EXISTS, message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message)


def aborted(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.ABORTED, message)


def store_problem(exc: BaseException) -> str:
    """A short description of a database error: the driver's first line, no SQL, no parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(orig).__name__}: {text}"


_UNREACHABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError)


def to_status(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, ApiError):
        return exc.code, exc.message
    if isinstance(exc, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, TransitionError):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, Conflict):
        return grpc.StatusCode.ABORTED, exc.message
    if isinstance(exc, SecretKeyError):
        log.error("%s: %s", method, exc)
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, _UNREACHABLE) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        problem = store_problem(exc)
        log.warning("%s: store unreachable: %s", method, problem)
        return grpc.StatusCode.UNAVAILABLE, f"the store is unreachable: {problem}; retry later"
    log.exception("%s failed", method)
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return grpc.StatusCode.INTERNAL, f"the store refused the request: {store_problem(exc)}"
    return grpc.StatusCode.INTERNAL, f"internal error in {method} ({type(exc).__name__}); see the service log"


def rpc(fn: F) -> F:
    """Wraps a servicer method so that every failure becomes a gRPC status."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 - every failure must become a status
            code, message = to_status(exc, fn.__name__)
        context.abort(code, message)

    return wrapper  # type: ignore[return-value]
