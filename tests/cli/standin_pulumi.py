"""A stand-in for the Pulumi CLI: records each call, prints a canned `stack export`.

The roll tests install it as ``pulumi`` (with a shebang for the test's Python). Each call is
appended to ``$STANDIN_LOG`` as one JSON line: the arguments and ``CCTVIEW_ROLL``.
``stack export`` prints ``$STANDIN_EXPORT``'s file. ``$STANDIN_FAIL_ON`` (a substring of the
arguments) makes a call exit 255 with a Pulumi-like error; ``$STANDIN_STOP`` ("match=instance-id")
makes a matching `up` stop that EC2 instance in the emulator, as a stop/start that never came back.
``$STANDIN_REPLACE`` ("match=instance-id") makes a matching `up` replace that instance as Pulumi's
delete-before-replace does: terminate it (EC2 detaches its volumes), then run a new instance in
its zone with its tags (the program declares a replacement with its predecessor's boot tags).
Its id is written to ``$STANDIN_LOG`` as ``{"replaced": old, "by": new}``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps({"args": args, "roll": os.environ.get("CCTVIEW_ROLL")}) + "\n")
    joined = " ".join(args)
    fail_on = os.environ.get("STANDIN_FAIL_ON")
    if fail_on and fail_on in joined:
        print("error: update failed: creating EC2 Instance: InsufficientInstanceCapacity",
              file=sys.stderr)  # fmt: skip
        return 255
    if args[:2] == ["stack", "export"]:
        sys.stdout.write(Path(os.environ["STANDIN_EXPORT"]).read_text())
        return 0
    stop = os.environ.get("STANDIN_STOP")
    if args[:1] == ["up"] and stop:
        match, instance_id = stop.split("=", 1)
        if match in joined:
            import boto3

            boto3.client("ec2").stop_instances(InstanceIds=[instance_id])
    replace = os.environ.get("STANDIN_REPLACE")
    if args[:1] == ["up"] and replace:
        match, instance_id = replace.split("=", 1)
        if match in joined:
            new = _replace(instance_id)
            with open(os.environ["STANDIN_LOG"], "a") as log:
                log.write(json.dumps({"replaced": instance_id, "by": new}) + "\n")
    return 0


def _replace(instance_id: str) -> str:
    import boto3

    ec2 = boto3.client("ec2")
    (old,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    made = ec2.run_instances(
        ImageId=old["ImageId"], InstanceType=old["InstanceType"], MinCount=1, MaxCount=1,
        Placement={"AvailabilityZone": old["Placement"]["AvailabilityZone"]},
        TagSpecifications=[{"ResourceType": "instance", "Tags": old.get("Tags", [])}],
    )  # fmt: skip
    return str(made["Instances"][0]["InstanceId"])


if __name__ == "__main__":
    sys.exit(main())
