"""Copies the served Triton model versions out of the models bucket into an empty model repository.

Runs as the init container of every Triton pod (components/app/tritonManifests.ts), with the
trainer image's Python and boto3. Reads, from the environment:
  S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   (the s3-credentials Secret)
  MODEL_BUCKET, MODEL_PREFIX, MODEL_NAME, MODEL_CONFIG (gpu | cpu)
  MODEL_VERSIONS        the versions to serve, space-separated ("3 4")
  MODEL_CONFIG_APPEND   text appended to the config (version policy, CPU threads)
  REPOSITORY            the emptyDir Triton serves
and writes REPOSITORY/<name>/config.pbtxt and REPOSITORY/<name>/<version>/model.onnx per version,
the layout `ssept export` uploads (trainer-image/ssept/triton_repository.py), with only those versions.
"""

import os
import sys


def env(name):
    value = os.environ.get(name, "")
    if value == "":
        sys.exit(f"fetch-model: environment variable {name} is not set")
    return value


def model_base(prefix, name):
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


def parse_versions(text):
    versions = text.split()
    if not versions or not all(v.isdigit() and int(v) >= 1 for v in versions):
        sys.exit(f"fetch-model: MODEL_VERSIONS={text!r}: expected integers >= 1, space-separated")
    return sorted(set(versions), key=int)


def compose_config(exported, append):
    """The exported config for this hardware, then the lines that pin the version."""
    if "version_policy" in exported:
        sys.exit("fetch-model: the exported config already sets version_policy; refusing to set it twice")
    return exported.rstrip("\n") + "\n" + append


def main():
    bucket = env("MODEL_BUCKET")
    name = env("MODEL_NAME")
    versions = parse_versions(env("MODEL_VERSIONS"))
    kind = env("MODEL_CONFIG")
    repository = env("REPOSITORY")
    if kind not in ("gpu", "cpu"):
        sys.exit(f"fetch-model: MODEL_CONFIG={kind}: expected gpu or cpu")
    base = model_base(os.environ.get("MODEL_PREFIX", ""), name)

    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3", endpoint_url=env("S3_ENDPOINT_URL"))
    model_dir = os.path.join(repository, name)

    def fetch(key, dest=None):
        try:
            if dest is None:
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            s3.download_file(bucket, key, dest)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "?")
            sys.exit(f"fetch-model: s3://{bucket}/{key}: {code}; was {name} exported there (ssept export)?")

    exported = fetch(f"{base}/configs/{kind}.pbtxt")
    for version in versions:
        os.makedirs(os.path.join(model_dir, version), exist_ok=True)
        fetch(f"{base}/{version}/model.onnx", os.path.join(model_dir, version, "model.onnx"))
    with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
        f.write(compose_config(exported, os.environ.get("MODEL_CONFIG_APPEND", "")))
    print(f"fetch-model: {name} versions {' '.join(versions)} ({kind}) ready in {model_dir}")


if __name__ == "__main__":
    main()
