"""botocore errors become FleetErrors with a message that says what to do."""

from __future__ import annotations

import botocore.exceptions
import pytest

from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.errors import (
    CredentialsError,
    InventoryError,
    StorageServiceError,
    VolumeError,
)

STACK = Stack(name="dev", bucket="my-bucket")


def client_error(code: str, message: str = "nope") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "Op")


@pytest.mark.parametrize(
    ("exc", "service", "kind", "text"),
    [
        (botocore.exceptions.NoCredentialsError(), "ec2", CredentialsError, "no AWS credentials"),
        (botocore.exceptions.NoRegionError(), "s3", CredentialsError, "no AWS region"),
        (client_error("AuthFailure"), "ec2", CredentialsError, "AWS refused the credentials"),
        (client_error("UnauthorizedOperation"), "ec2", InventoryError, "access denied"),
        (client_error("AccessDenied"), "s3", StorageServiceError, "access denied"),
        (client_error("NoSuchBucket"), "s3", StorageServiceError, "bucket 'my-bucket'"),
        (client_error("Throttling"), "ec2", InventoryError, "ec2 refused while x: Throttling"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://ec2"),
            "ec2",
            InventoryError,
            "cannot reach AWS ec2 in us-east-1 while x",
        ),
    ],
)
def test_translation(exc: Exception, service: str, kind: type, text: str) -> None:
    with pytest.raises(kind) as caught, aws.translate_errors(STACK, service, "x"):
        raise exc
    assert text in str(caught.value)
    assert caught.value.__cause__ is exc


def test_credentials_hint_names_every_way_to_configure() -> None:
    error = aws.translate(botocore.exceptions.NoCredentialsError(), STACK, "ec2")
    assert str(error) == (
        "no AWS credentials found; configure AWS access with `aws configure`, or set "
        "AWS_PROFILE (and AWS_REGION), or use the local fleet with --stack local"
    )


def test_a_caller_can_choose_the_error_class_but_not_for_credentials() -> None:
    with pytest.raises(VolumeError), aws.translate_errors(STACK, "ec2", "x", error=VolumeError):
        raise client_error("IncorrectState")
    with pytest.raises(CredentialsError), aws.translate_errors(STACK, "ec2", error=VolumeError):
        raise botocore.exceptions.NoCredentialsError()
