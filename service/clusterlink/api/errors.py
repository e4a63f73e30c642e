"""API errors and how every exception maps to a gRPC status.

Handlers raise `ApiError` (with a code) or a pure `ValidationError`; the
`rpc` decorator turns whatever escapes into a status with an actionable
message, so a client never sees UNKNOWN. A store that cannot be reached or
is full answers UNAVAILABLE saying which; database errors are reduced to
their first line, without SQL or parameters (which could hold sealed
secrets). Anything unexpected is logged with its traceback under a short
error id and answered as INTERNAL with that id only, never the details.
Every message is kept short (gRPC carries it in a header).
"""

from __future__ import annotations

import functools
import logging
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from sqlalchemy import exc as sa_exc

from clusterlink.api.validation import MESSAGE_LIMIT, ValidationError
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
# PostgreSQL's SQLSTATE for "could not extend file: No space left on device".
_PG_DISK_FULL = "53100"
STORE_FULL = "the store is full"


def store_is_full(exc: BaseException) -> bool:
    """A write failed for want of space: SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100)."""
    orig = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) == _PG_DISK_FULL or getattr(orig, "pgcode", None) == _PG_DISK_FULL:
        return True
    if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return isinstance(orig, sqlite3.Error) and "database or disk is full" in str(orig)


def new_error_id() -> str:
    """A short id that ties an INTERNAL answer to its traceback in the service log."""
    return secrets.token_hex(4)


def bounded(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """`message`, shortened to `limit` characters when longer (a safety net; validators keep theirs short)."""
    if len(message) <= limit:
        return message
    return message[: limit - 20] + " ... (shortened)"


def to_status(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, ApiError):
        return exc.code, bounded(exc.message)
    if isinstance(exc, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, bounded(str(exc))
    if isinstance(exc, TransitionError):
        return grpc.StatusCode.FAILED_PRECONDITION, bounded(str(exc))
    if isinstance(exc, Conflict):
        return grpc.StatusCode.ABORTED, bounded(exc.message)
    if isinstance(exc, SecretKeyError):
        log.error("%s: %s", method, exc)
        return grpc.StatusCode.FAILED_PRECONDITION, bounded(str(exc))
    if isinstance(exc, sa_exc.DBAPIError) and store_is_full(exc):
        log.error("%s: the store is full: %s", method, store_problem(exc))
        return (
            grpc.StatusCode.UNAVAILABLE,
            f"{STORE_FULL}: the database has no space left for this change; "
            "nothing was changed; retry once space has been freed",
        )
    if isinstance(exc, _UNREACHABLE) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        problem = store_problem(exc)
        log.warning("%s: store unreachable: %s", method, problem)
        return grpc.StatusCode.UNAVAILABLE, bounded(f"the store is unreachable: {problem}; retry later")
    error_id = new_error_id()
    log.error("%s failed (error id %s)", method, error_id, exc_info=exc)
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return (
            grpc.StatusCode.INTERNAL,
            f"the store refused the request (error id {error_id}); the service log has the details under this id",
        )
    return (
        grpc.StatusCode.INTERNAL,
        f"internal error in {method} (error id {error_id}); the service log has the details under this id",
    )


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
