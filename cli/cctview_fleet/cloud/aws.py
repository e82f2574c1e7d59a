"""boto3 sessions and clients for a stack, with botocore's errors translated at the boundary.

Everything that talks to AWS (inventory, assignments in S3, sync, volumes) gets its clients here,
so the emulator endpoint, the profile and the retry policy are decided in one place and every
botocore error becomes a :class:`FleetError` whose message says what to do. boto3's standard
configuration still applies for anything the stack leaves unset (``AWS_PROFILE``,
``AWS_ENDPOINT_URL``, ``~/.aws/config``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions  # light; boto3 and botocore.config load on the first client

from cctview_agent import awscalls
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import (
    CredentialsError,
    FleetError,
    InventoryError,
    StorageServiceError,
)

if TYPE_CHECKING:
    import boto3.session

T = TypeVar("T")

CONFIGURE_HINT = (
    "configure AWS access with `aws configure`, or set AWS_PROFILE (and AWS_REGION), "
    "or use the local fleet with --stack local"
)

# Short timeouts: an unreachable endpoint must be reported within seconds, never hang a command.
_CLIENT_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 30,
    "retries": {"max_attempts": 3, "mode": "standard"},
}

_clients: dict[tuple[str | None, ...], Any] = {}
# boto3's configuration from the environment: a client made under other values is not reused.
_ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    awscalls.RECORD_ENV,
)
_clients_lock = threading.Lock()

# ClientError codes that mean the caller lacks credentials or permissions.
_CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)


def session(stack: Stack) -> boto3.session.Session:
    """A boto3 session for the stack: its profile and region, emulator keys for the local fleet."""
    kwargs: dict[str, Any] = {"region_name": stack.region or None}
    if stack.aws_profile:
        kwargs["profile_name"] = stack.aws_profile
    if stack.aws_access_key_id and stack.aws_secret_access_key:
        kwargs["aws_access_key_id"] = stack.aws_access_key_id
        kwargs["aws_secret_access_key"] = stack.aws_secret_access_key
    import boto3.session  # here, not at the top: it costs `--help` a tenth of a second

    try:
        return boto3.session.Session(**kwargs)
    except botocore.exceptions.ProfileNotFound as exc:
        raise CredentialsError(
            f"AWS profile {stack.aws_profile!r} of stack {stack.name!r} is not configured; "
            f"{CONFIGURE_HINT}"
        ) from exc


def client(stack: Stack, service: str) -> Any:
    """A client for ``service`` ('ec2', 's3', ...) that talks to the stack's endpoint.

    Clients are cached per stack settings and service: building one loads the service's model
    (the EC2 one is large, most of a second on a busy machine), and clients are thread-safe.
    """
    key = (
        service,
        stack.name,
        stack.region,
        stack.endpoint_url,
        stack.aws_profile,
        stack.aws_access_key_id,
        stack.aws_secret_access_key,
        stack.prefix,  # the recorder attached to the client judges calls against this prefix
        *(os.environ.get(name) for name in _ENVIRONMENT),
    )
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
        import botocore.config

        kwargs: dict[str, Any] = {"config": botocore.config.Config(**_CLIENT_CONFIG)}
        if stack.endpoint_url:
            kwargs["endpoint_url"] = stack.endpoint_url
        with translate_errors(stack, service):
            made = awscalls.attach(
                session(stack).client(service, **kwargs),
                awscalls.OPERATOR,
                fleet_prefix=stack.prefix,
            )
        _clients[key] = made
        return made


def ec2(stack: Stack) -> Any:
    return client(stack, "ec2")


def s3(stack: Stack) -> Any:
    return client(stack, "s3")


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, stack: Stack, service: str, what: str = "") -> FleetError:
    """The FleetError for a botocore error met while doing ``what`` with ``service``."""
    doing = f" while {what}" if what else ""
    where = stack.endpoint_url or f"AWS {service} in {stack.region}"
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return CredentialsError(f"no AWS credentials found{doing}; {CONFIGURE_HINT}")
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return CredentialsError(f"no AWS region configured{doing}; {CONFIGURE_HINT}")
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return CredentialsError(f"{exc}; {CONFIGURE_HINT}")
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError,
    ):
        hint = (
            "is the local fleet running? (`cctview-fleet dev status`)"
            if stack.endpoint_url
            else "check the network and the region"
        )
        return _service_error(service, f"cannot reach {where}{doing}: {exc}; {hint}")
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code in _CREDENTIAL_CODES:
            return CredentialsError(
                f"AWS refused the credentials{doing} ({code}: {message}); {CONFIGURE_HINT}"
            )
        if code in ("AccessDenied", "UnauthorizedOperation", "AccessDeniedException"):
            return _service_error(
                service,
                f"access denied{doing} ({code}); the credentials lack a permission: {message}",
            )
        if code in ("NoSuchBucket",):
            return StorageServiceError(
                f"bucket {stack.bucket!r} of stack {stack.name!r} does not exist{doing}; "
                "run `pulumi up` (or `cctview-fleet dev up` for --stack local)"
            )
        return _service_error(service, f"{service} refused{doing}: {code}: {message}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return _service_error(service, f"{service} failed{doing}: {exc}")
    return FleetError(f"{service} failed{doing}: {exc}")


def _service_error(service: str, message: str) -> FleetError:
    """S3 failures are storage errors; EC2 (and anything else) failures are inventory errors.
    Callers that want another class (volumes: VolumeError) pass ``error=`` to translate_errors."""
    if service == "s3":
        return StorageServiceError(message)
    return InventoryError(message)


@contextmanager
def translate_errors(
    stack: Stack, service: str, what: str = "", *, error: type[FleetError] | None = None
) -> Iterator[None]:
    """Within the block, botocore errors leave as the matching FleetError (``from`` the cause).

    ``error`` replaces the service's default class for everything but credential problems, e.g.
    ``translate_errors(stack, "ec2", "attaching vol-1", error=VolumeError)``.
    """
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        translated = translate(exc, stack, service, what)
        if error is not None and not isinstance(translated, CredentialsError | error):
            translated = error(str(translated))
        raise translated from exc


def call(stack: Stack, service: str, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``fn(**kwargs)`` with errors translated, e.g. ``call(stack, "ec2", "listing nodes", f)``."""
    with translate_errors(stack, service, what):
        return fn(**kwargs)
