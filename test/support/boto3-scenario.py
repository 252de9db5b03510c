"""A small boto3 program against the gateway's S3 endpoint (run by test/s3-tools.e2e-spec.ts).

Target from the environment: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION;
argv: bucket, work folder, path of a large file. Prints one JSON document of what it saw; every
check that fails raises (non-zero exit), so the test sees the message.
"""
import hashlib
import json
import os
import sys
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

bucket, work, large = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_ENDPOINT"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def error_code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("expected an S3 error")


out = {}
s3.create_bucket(Bucket=bucket)

# put / get / head, with metadata and a content type
body = os.urandom(70_001)
put = s3.put_object(Bucket=bucket, Key="py/one.bin", Body=body, ContentType="application/x-test", Metadata={"colour": "blue"})
assert put["ETag"].strip('"') == hashlib.md5(body).hexdigest(), put["ETag"]
got = s3.get_object(Bucket=bucket, Key="py/one.bin")
assert got["Body"].read() == body
assert got["ContentType"] == "application/x-test", got["ContentType"]
assert got["Metadata"] == {"colour": "blue"}, got["Metadata"]
ranged = s3.get_object(Bucket=bucket, Key="py/one.bin", Range="bytes=100-199")["Body"].read()
assert ranged == body[100:200]
for i in range(5):
    s3.put_object(Bucket=bucket, Key=f"py/many/k{i} +%.txt", Body=f"value {i}".encode())

# list, with a delimiter and paging
listed = s3.list_objects_v2(Bucket=bucket, Prefix="py/", Delimiter="/")
out["listDelimited"] = {"keys": [o["Key"] for o in listed.get("Contents", [])], "prefixes": [p["Prefix"] for p in listed.get("CommonPrefixes", [])]}
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="py/many/", PaginationConfig={"PageSize": 2}):
    keys += [o["Key"] for o in page.get("Contents", [])]
out["listPaged"] = keys

# presigned GET and PUT, used with plain urllib (no boto3 on the wire)
url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "py/one.bin"}, ExpiresIn=300)
with urllib.request.urlopen(url) as r:
    assert r.read() == body
put_body = os.urandom(12_345)
url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "py/presigned.bin"}, ExpiresIn=300)
with urllib.request.urlopen(urllib.request.Request(url, data=put_body, method="PUT")) as r:
    assert r.status == 200, r.status
assert s3.get_object(Bucket=bucket, Key="py/presigned.bin")["Body"].read() == put_body

# multipart through the transfer manager: a small threshold and 5 MiB parts
cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=3)
s3.upload_file(large, bucket, "py/large.bin", Config=cfg)
head = s3.head_object(Bucket=bucket, Key="py/large.bin")
out["largeETag"] = head["ETag"]
out["largeLength"] = head["ContentLength"]
back = os.path.join(work, "large.back")
s3.download_file(bucket, "py/large.bin", back, Config=cfg)
out["largeSha256"] = sha256(back)

# delete, then the S3 errors a program branches on
s3.delete_object(Bucket=bucket, Key="py/one.bin")
out["afterDelete"] = error_code(lambda: s3.get_object(Bucket=bucket, Key="py/one.bin"))
out["missingBucket"] = error_code(lambda: s3.list_objects_v2(Bucket=bucket + "-missing"))
deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
out["deletedMany"] = sorted(d["Key"] for d in deleted.get("Deleted", []))
print(json.dumps(out))
