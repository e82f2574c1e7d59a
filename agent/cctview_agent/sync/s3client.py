"""The S3 client the agent uses, as a Protocol: the operations it calls, nothing more.

botocore builds its clients at run time and ships no types. Rather than add a stub package to
the node's dependencies (``mypy-boto3-s3``), the type checker is told here which operations the
uploader calls; any botocore or boto3 S3 client matches structurally. The keyword arguments
and the response dicts are S3's own (see the S3 API reference), left as ``Any``.
"""

from __future__ import annotations

from typing import Any, Protocol


class S3Client(Protocol):
    """The S3 operations :class:`cctview_agent.sync.uploader.Uploader` calls."""

    @property
    def meta(self) -> Any:
        """botocore's client metadata: ``endpoint_url`` and the event hooks (awscalls.py)."""

    def head_object(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_object(self, **kwargs: Any) -> dict[str, Any]: ...
    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    def upload_part(self, **kwargs: Any) -> dict[str, Any]: ...
    def list_parts(self, **kwargs: Any) -> dict[str, Any]: ...
    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
    def list_multipart_uploads(self, **kwargs: Any) -> dict[str, Any]: ...
    def abort_multipart_upload(self, **kwargs: Any) -> dict[str, Any]: ...
