"""A real S3 endpoint on loopback: moto's server mode, which speaks the S3 REST protocol, as a
process the test starts and stops. With `refuse`, it checks credentials as AWS does (IAM on from
the first request), so a key it never issued is refused with 403."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT = 30.0


class S3Server:
    def __init__(self, log: Path, refuse: bool = False):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ) | ({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if refuse else {})
        moto = Path(sys.executable).with_name("moto_server")
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)], stdout=self._log, stderr=self._log, env=env
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start; see {log}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def environment(self) -> dict[str, str]:
        """What a user of this S3 sets: the standard AWS variables."""
        return {
            "AWS_ACCESS_KEY_ID": "tapit-test",
            "AWS_SECRET_ACCESS_KEY": "tapit-test-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def create_bucket(self, name: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{name}", method="PUT"), timeout=10).close()

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object as an admin's `aws s3 cp` reads it (boto3, which moto itself depends on); None if absent."""
        import boto3
        from botocore.exceptions import ClientError

        env = self.environment()
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
