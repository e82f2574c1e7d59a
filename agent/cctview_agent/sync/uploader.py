"""Put a packed period into S3 and prove it arrived: one PUT, or a multipart upload when large.

Every upload carries the SHA-256 computed from the frames beforehand (``ChecksumSHA256``; S3
refuses a body that does not hash to it) and is made with ``If-None-Match: *`` so an existing
object is never replaced. Afterwards ``HeadObject`` must report the expected size, the ETag S3
computed itself (the MD5 for one PUT, MD5 of part MD5s for multipart; skipped under SSE-KMS where
the ETag is no MD5), and the checksum. The ETag matters for emulators: moto stores the checksum
a client sends without recomputing it, but computes the ETag from the bytes it received.

botocore (from the ``s3`` extra, boto3) is imported lazily, inside :func:`make_client`, so
``cctview-agent run`` never loads it; botocore's errors become :class:`SyncError` here, at the
boundary.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cctview_agent import awscalls
from cctview_agent.errors import SyncError, VerificationError
from cctview_agent.sync.packing import PartDigest, TarDigests, TarPlan, digest_tar
from cctview_agent.sync.s3client import S3Client

# An hour of one camera is ~75 MB: one PUT. Only much longer or larger periods go multipart,
# so a camera-period costs two PUT requests (tar + manifest).
DEFAULT_MULTIPART_THRESHOLD = 512 * 1024 * 1024
DEFAULT_PART_SIZE = 64 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's lower bound for every part but the last

_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccessDenied"}
)
_CREDENTIALS_HINT = (
    "give the node an instance profile, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


def make_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    *,
    session: Any = None,
    principal: str = awscalls.NODE,
    fleet_prefix: str | None = None,
) -> S3Client:
    """An S3 client with short timeouts: an unreachable endpoint fails in seconds, not minutes.
    ``session`` (a boto3 or botocore session) supplies credentials, e.g. the operator's stack;
    ``principal`` is whose IAM policy governs the calls and ``fleet_prefix`` the bucket prefix
    that policy was written for (both recorded for the tests' IAM checks, cctview_agent.awscalls).
    """
    try:  # botocore alone: boto3's session would also import s3transfer, a fifth of start-up
        import botocore.config
        import botocore.session
    except ImportError as exc:
        raise SyncError(
            "cctview-agent sync needs boto3; install it with: pip install 'cctview-agent[s3]'"
        ) from exc
    config = botocore.config.Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        # We send our own SHA-256; botocore must not add a CRC of its own (a second read pass).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # The body is covered by the signed x-amz-checksum-sha256 header, which S3 verifies;
        # signing the payload too would make botocore read and hash every byte once more
        # (it does so on plain http, i.e. emulators, whatever the checksum).
        s3={"payload_signing_enabled": False},
    )
    with translate_errors(endpoint_url or "S3", "opening an S3 client"):
        kwargs = {"endpoint_url": endpoint_url or None, "region_name": region or None}
        client: S3Client
        if session is not None and hasattr(session, "client"):  # boto3
            client = session.client("s3", config=config, **kwargs)
        else:
            session = session or botocore.session.get_session()
            client = session.create_client("s3", config=config, **kwargs)
    awscalls.attach(client, principal, fleet_prefix=fleet_prefix)  # the same client, recording
    return client


def error_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def translate(exc: Exception, where: str, what: str, bucket: str = "") -> SyncError:
    """The one-line SyncError for a botocore error met while doing ``what``."""
    import botocore.exceptions as bce

    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return SyncError(f"no AWS credentials found while {what}; {_CREDENTIALS_HINT}")
    if isinstance(exc, bce.NoRegionError):
        return SyncError(f"no AWS region configured while {what}; set AWS_REGION or --region")
    if isinstance(
        exc,
        bce.EndpointConnectionError
        | bce.ConnectionClosedError
        | bce.ConnectTimeoutError
        | bce.ReadTimeoutError
        | bce.HTTPClientError,
    ):
        return SyncError(
            f"cannot reach {where} while {what}: {exc}; check the network and rerun the sync, "
            "it resumes where it stopped and nothing local was deleted"
        )
    if isinstance(exc, bce.ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code == "NoSuchBucket":
            bucket = exc.response.get("Error", {}).get("BucketName", "") or bucket
            name = f" {bucket!r}" if bucket else ""
            return SyncError(
                f"bucket{name} does not exist ({where}); create it (`pulumi up`) "
                "or pass the right --bucket"
            )
        if code in _CREDENTIAL_CODES or code == "403":
            return SyncError(f"S3 refused the credentials while {what} ({code}: {message})")
        return SyncError(f"S3 refused {what}: {code}: {message}")
    return SyncError(f"S3 failed while {what}: {exc}")


@contextmanager
def translate_errors(where: str, what: str, bucket: str = "") -> Iterator[None]:
    """Within the block botocore errors leave as SyncError, ``from`` their cause."""
    import botocore.exceptions as bce

    try:
        yield
    except (bce.BotoCoreError, bce.ClientError) as exc:
        raise translate(exc, where, what, bucket) from exc


def parse_rate(text: str) -> float:
    """``--bwlimit`` in bytes per second: ``500K``, ``2M``, ``1.5MB``, ``0`` (none); KiB units."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:/s)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a rate: {text!r} (examples: 500K, 2M, 1.5MB)")
    scale = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    return float(match.group(1)) * scale


@dataclass
class Throttle:
    """Keeps the average upload rate at or below ``rate`` bytes per second (0: no limit), and
    counts bytes for the progress display. Called from the body reader as botocore reads it."""

    rate: float = 0.0
    on_bytes: Callable[[int], None] | None = None
    _start: float = field(default_factory=time.monotonic)
    _sent: int = 0

    def __call__(self, count: int) -> None:
        self._sent += count
        if self.on_bytes is not None:
            self.on_bytes(count)
        if self.rate > 0:
            ahead = self._sent / self.rate - (time.monotonic() - self._start)
            if ahead > 0:
                time.sleep(ahead)


@dataclass(frozen=True, slots=True)
class Expected:
    """What an object must look like in S3 to count as verified."""

    size: int
    etag: str
    checksum: str


def expected_for(digests: TarDigests) -> Expected:
    return Expected(digests.size, digests.expected_etag, digests.expected_checksum)


@dataclass
class Uploader:
    """PUTs, multipart uploads and verification against one bucket."""

    client: S3Client
    bucket: str
    where: str = "S3"
    throttle: Throttle = field(default_factory=Throttle)
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE
    requests: dict[str, int] = field(default_factory=dict)

    def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        self.requests[operation] = self.requests.get(operation, 0) + 1
        with translate_errors(self.where, what, self.bucket):
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)

    def part_size_for(self, size: int) -> int | None:
        """None for a single PUT, else the part size (grown so there are at most 10,000 parts)."""
        if size <= self.multipart_threshold:
            return None
        part = max(self.part_size, MIN_PART_SIZE, -(-size // 10_000))
        return part

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's headers (checksum included), or None if there is no object at ``key``."""
        import botocore.exceptions as bce

        self.requests["head_object"] = self.requests.get("head_object", 0) + 1
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except bce.ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise translate(exc, self.where, f"looking up {key}") from exc
        except bce.BotoCoreError as exc:
            raise translate(exc, self.where, f"looking up {key}") from exc

    def matches(self, head: dict[str, Any], expected: Expected) -> str | None:
        """None when ``head`` is the expected object, else what differs."""
        if int(head.get("ContentLength", -1)) != expected.size:
            return f"size {head.get('ContentLength')} != {expected.size}"
        etag = str(head.get("ETag", "")).strip('"')
        if head.get("ServerSideEncryption") != "aws:kms" and etag != expected.etag:
            return f"ETag {etag} != {expected.etag}"
        checksum = head.get("ChecksumSHA256")
        if checksum is not None and re.sub(r"-\d+$", "", checksum) != expected.checksum:
            return f"SHA-256 {checksum} != {expected.checksum}"
        if checksum is None:
            return "no SHA-256 checksum stored with the object"
        return None

    def verify(self, key: str, expected: Expected) -> None:
        """HeadObject and compare; VerificationError if the object is missing or differs."""
        head = self.head(key)
        if head is None:
            raise VerificationError(f"s3://{self.bucket}/{key} is missing after upload", key=key)
        problem = self.matches(head, expected)
        if problem:
            raise VerificationError(
                f"s3://{self.bucket}/{key} failed verification ({problem}); "
                "the local period is kept, rerun the sync",
                key=key,
            )

    def _on_conflict(self, key: str, expected: Expected) -> None:
        """``If-None-Match`` refused the write: fine if the object is ours (an earlier attempt
        landed), a conflict if it holds other bytes, which are never overwritten."""
        head = self.head(key)
        if head is not None and self.matches(head, expected) is None:
            return
        raise VerificationError(
            f"s3://{self.bucket}/{key} already holds a different object; it is not "
            "overwritten and the local period is kept (look for a node name clash)",
            key=key,
        )

    def _put_new(self, key: str, body: Any, sha256_b64: str, **extra: Any) -> bool:
        """One PUT that never replaces an object (``If-None-Match: *``), with S3 checking the
        SHA-256; False when an object already holds the key (the caller checks it is ours)."""
        import botocore.exceptions as bce

        self.requests["put_object"] = self.requests.get("put_object", 0) + 1
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=sha256_b64,
                IfNoneMatch="*",
                **extra,
            )
        except bce.ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise translate(exc, self.where, f"uploading {key}") from exc
        except bce.BotoCoreError as exc:
            raise translate(exc, self.where, f"uploading {key}") from exc
        return True

    def put_bytes(self, key: str, body: bytes, expected: Expected, **extra: Any) -> None:
        """One PUT of a small object (a manifest), never over an existing one."""
        if not self._put_new(key, body, expected.checksum, **extra):
            self._on_conflict(key, expected)

    def put_tar(
        self, key: str, plan: TarPlan, digests: TarDigests, metadata: dict[str, str]
    ) -> Expected:
        """Upload the planned tar: one PUT, or multipart when ``digests`` has several parts.
        Returns what the object must look like (the MD5 of a single PUT comes from its stream)."""
        if digests.multipart:
            upload_id = self._call(
                "create_multipart_upload",
                f"starting the upload of {key}",
                Key=key,
                ChecksumAlgorithm="SHA256",
                ContentType="application/x-tar",
                Metadata=metadata,
            )["UploadId"]
            self.finish_multipart(key, upload_id, plan, digests)
            return expected_for(digests)
        body = plan.open(on_read=self.throttle)
        sent = self._put_new(
            key,
            body,
            digests.sha256_b64,
            ContentLength=plan.size,
            ContentType="application/x-tar",
            Metadata=metadata,
        )
        if not sent:
            expected = expected_for(digest_tar(plan))
            self._on_conflict(key, expected)
            return expected
        md5 = body.md5
        if md5 is None:  # the body was not read through once; hash it again to be sure
            return expected_for(digest_tar(plan))
        return Expected(plan.size, md5.hex(), digests.sha256_b64)

    def finish_multipart(
        self, key: str, upload_id: str, plan: TarPlan, digests: TarDigests
    ) -> None:
        """Upload every part S3 lacks (or holds wrongly) and complete; resumes a killed upload."""
        import botocore.exceptions as bce

        present = self.uploaded_parts(key, upload_id)
        completed: list[dict[str, Any]] = []
        for part in digests.parts:
            held = present.get(part.number)
            if held is None or held != (part.size, part.etag):
                self._upload_part(key, upload_id, plan, part)
            completed.append(
                {
                    "PartNumber": part.number,
                    "ETag": f'"{part.etag}"',
                    "ChecksumSHA256": part.sha256_b64,
                }
            )
        self.requests["complete_multipart_upload"] = (
            self.requests.get("complete_multipart_upload", 0) + 1
        )
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": completed},
                IfNoneMatch="*",
            )
        except bce.ClientError as exc:
            if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise translate(exc, self.where, f"completing the upload of {key}") from exc
            self.abort(key, upload_id)
            self._on_conflict(key, expected_for(digests))
        except bce.BotoCoreError as exc:
            raise translate(exc, self.where, f"completing the upload of {key}") from exc

    def _upload_part(self, key: str, upload_id: str, plan: TarPlan, part: PartDigest) -> None:
        self._call(
            "upload_part",
            f"uploading part {part.number} of {key}",
            Key=key,
            UploadId=upload_id,
            PartNumber=part.number,
            Body=plan.open(start=part.start, end=part.end, on_read=self.throttle),
            ContentLength=part.size,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=part.sha256_b64,
        )

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        """``{part number: (size, md5 hex)}`` of the parts S3 holds for an upload."""
        parts: dict[int, tuple[int, str]] = {}
        marker = 0
        while True:
            page = self._call(
                "list_parts",
                f"listing the parts of {key}",
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
            for item in page.get("Parts", []):
                parts[int(item["PartNumber"])] = (int(item["Size"]), item["ETag"].strip('"'))
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    def pending_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, upload id)`` of every multipart upload left open under ``prefix``. The first
        request of a sync: an unknown bucket, bad credentials or no endpoint fail it at once."""
        found: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._call("list_multipart_uploads", "listing unfinished uploads", **kwargs)
            found.extend((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
            if not page.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def abort(self, key: str, upload_id: str) -> None:
        self._call(
            "abort_multipart_upload",
            f"aborting the unfinished upload of {key}",
            Key=key,
            UploadId=upload_id,
        )
