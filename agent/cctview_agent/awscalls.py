"""Record the AWS calls this process makes, so tests can check each against an IAM policy.

moto (the emulator behind every test) does not enforce IAM, so a call the node role or the
operator policy does not allow would pass every test and fail on AWS. With
``CCTVIEW_RECORD_AWS_CALLS=<file>`` in the environment, every botocore client made through
:func:`attach` appends one JSON line per API call to that file: who makes it (``principal``:
``node`` for the agent, ``operator`` for the CLI), the service and operation, the region, whether
the request went over TLS and to which host, the request's parameters (bodies left out) and the
HTTP headers that IAM condition keys are read from (``If-None-Match``...). The test suite turns
this into IAM requests and evaluates them (``cctview_infra.iam.requests``,
``cctview_infra.iam.evaluator``).

The hooks are botocore's own events on the client: ``provide-client-params`` sees the caller's
parameters, ``before-call`` the serialized request (URL and headers) just before it is signed
and sent, once per API call whatever the retries. Without the variable nothing is registered.

Code that acts for someone else (the local fleet standing in for ``pulumi up``) marks its calls
with :func:`acting_as`; a context variable, so it covers shared, cached clients too.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cctview_agent.errors import ConfigError

RECORD_ENV = "CCTVIEW_RECORD_AWS_CALLS"
NODE = "node"
OPERATOR = "operator"
# The account's owner outside the CLI: `pulumi up` (in tests, the local fleet standing in for
# it), or someone stopping an instance in the console. Not judged: its rights are not ours.
DEPLOYER = "deployer"

# Request headers that IAM condition keys are read from (lower case).
CONDITION_HEADERS = ("if-none-match", "if-match", "x-amz-acl", "x-amz-server-side-encryption")
# Parameters that are data, not authorization context: never written to the record.
_BULKY = frozenset({"Body", "MultipartUpload", "UserData"})
_PARAMS_KEY = "cctview_recorded_params"

_acting_as: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cctview_aws_principal", default=None
)


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One API call as IAM would see it, before any mapping to actions."""

    principal: str
    service: str  # botocore's signing name: "s3", "ec2"
    operation: str  # "PutObject", "DescribeVolumes"
    region: str
    secure_transport: bool
    host: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    fleet_prefix: str | None = None  # the caller's idea of the fleet's prefix, if it has one

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordedCall:
        return cls(
            principal=str(data["principal"]),
            service=str(data["service"]),
            operation=str(data["operation"]),
            region=str(data.get("region", "")),
            secure_transport=bool(data["secure_transport"]),
            host=str(data.get("host", "")),
            params=dict(data.get("params", {})),
            headers={str(k): str(v) for k, v in dict(data.get("headers", {})).items()},
            fleet_prefix=data.get("fleet_prefix"),
        )


def read_calls(path: Path, *, start: int = 0) -> tuple[list[RecordedCall], int]:
    """The calls recorded in ``path`` from byte ``start`` on, and the offset after the last
    whole line (a line still being written is left for the next read)."""
    try:
        with path.open("rb") as stream:
            stream.seek(start)
            data = stream.read()
    except FileNotFoundError:
        return [], start
    whole = data[: data.rfind(b"\n") + 1]
    calls = [
        RecordedCall.from_dict(json.loads(line)) for line in whole.splitlines() if line.strip()
    ]
    return calls, start + len(whole)


@contextmanager
def acting_as(principal: str) -> Iterator[None]:
    """Within the block (or the decorated function), recorded calls are made by ``principal``,
    whatever the client says."""
    token = _acting_as.set(principal)
    try:
        yield
    finally:
        _acting_as.reset(token)


def attach(client: Any, principal: str, *, fleet_prefix: str | None = None) -> Any:
    """Record ``client``'s calls as ``principal``'s when $CCTVIEW_RECORD_AWS_CALLS names a file.
    ``fleet_prefix`` is the bucket prefix the caller was configured with (the policies are
    written for one). Returns the client; attaching twice records once."""
    path = os.environ.get(RECORD_ENV)
    if not path or getattr(client, "_cctview_recorded", False):
        return client
    recorder = _Recorder(Path(path), principal, fleet_prefix)
    events = client.meta.events
    events.register("provide-client-params.*.*", recorder.keep_params)
    events.register("before-call.*.*", recorder.record)
    client._cctview_recorded = True
    return client


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a parameter value (bytes and streams become their type's name)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return f"<{type(value).__name__}>"


@dataclass(frozen=True, slots=True)
class _Recorder:
    path: Path
    principal: str
    fleet_prefix: str | None

    def keep_params(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS_KEY] = {k: _plain(v) for k, v in params.items() if k not in _BULKY}

    def record(
        self, model: Any, params: Mapping[str, Any], context: Mapping[str, Any], **_: Any
    ) -> None:
        url = urlsplit(str(params.get("url", "")))
        headers = {str(k).lower(): str(v) for k, v in dict(params.get("headers", {})).items()}
        call = RecordedCall(
            principal=_acting_as.get() or self.principal,
            service=str(model.service_model.signing_name),
            operation=str(model.name),
            region=str(context.get("client_region") or ""),
            secure_transport=url.scheme == "https",
            host=url.hostname or "",
            params=dict(context.get(_PARAMS_KEY, {})),
            headers={k: headers[k] for k in CONDITION_HEADERS if k in headers},
            fleet_prefix=self.fleet_prefix,
        )
        line = (call.to_json() + "\n").encode()
        # One write on an O_APPEND descriptor: lines from many processes never interleave.
        # A call that cannot be recorded must not pass unjudged: the failure is loud.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ConfigError(
                f"cannot record AWS calls to {self.path} (${RECORD_ENV}): {exc.strerror}; "
                "make the file writable for this process, or unset the variable",
                key=RECORD_ENV,
            ) from exc
