import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PACKAGE_ROOT))

from ssept.split import leave_one_out  # noqa: E402
from ssept.storage import LocalDirectoryStorage  # noqa: E402
from ssept.synthetic import generate_sequences  # noqa: E402


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Which torch and which BLAS this run used (CPU timings depend on it); shown even with -q."""
    import torch

    build = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in build.replace(",", "\n").split() if part.startswith("BLAS_INFO=")), "unknown")
    terminalreporter.write_line(
        f"python {sys.executable}; torch {torch.__version__}, BLAS {blas}, MKL {torch.backends.mkl.is_available()}, "
        f"{torch.get_num_threads()} threads"
    )


@pytest.fixture
def storage(tmp_path: Path) -> LocalDirectoryStorage:
    return LocalDirectoryStorage(tmp_path / "store")


@pytest.fixture(scope="session")
def small_split():
    """300 users, 120 items, mean length 30: big enough to learn, small enough for seconds."""
    sequences = generate_sequences(300, 120, mean_length=30, min_length=8, seed=3)
    return leave_one_out(sequences, 120)


# --- Real services (tests/services/services.sh) -------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_SCRIPT = REPO_ROOT / "tests" / "services" / "services.sh"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """A missing service or package fails the test in CI (CI=true) and skips it elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a test that needs it fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def require_module(name: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"{name} is not installed for {sys.executable} ({exc}); run .ci/run or use .venv/bin/python")


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """The environment `services.sh env` prints (endpoints, keys, ports) of the running services."""
    proc = subprocess.run(["bash", str(SERVICES_SCRIPT), "env"], capture_output=True, text=True)
    if proc.returncode != 0:
        unavailable(f"test services are not running ({proc.stderr.strip()}); start them: {SERVICES_SCRIPT} start")
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export ") :].split("=", 1)
            found[key] = value.strip('"')
    return found


S3_KEYS = ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
           "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION", "MLFLOW_S3_ENDPOINT_URL")


def _service_env(services: dict[str, str], service: str, keys: tuple[str, ...], monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if service not in services.get("SSEPT_SERVICES", "").split():
        unavailable(f"the {service} test service is not running (running: {services.get('SSEPT_SERVICES')!r})")
    for key in keys:
        monkeypatch.setenv(key, services[key])
    return services


@pytest.fixture
def s3_services(services, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Ceph RGW with the estate's buckets; its endpoint and keys are in the environment."""
    require_module("boto3")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return _service_env(services, "ceph", S3_KEYS, monkeypatch)


@pytest.fixture
def mlflow_services(s3_services, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The MLflow server (Postgres backend, artifacts proxied to RGW) plus S3."""
    require_module("mlflow")
    return _service_env(s3_services, "mlflow", ("MLFLOW_TRACKING_URI",), monkeypatch)


def s3_client(services: dict[str, str]):  # type: ignore[no-untyped-def]
    boto3 = require_module("boto3")
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=services["S3_ENDPOINT_URL"], aws_access_key_id=services["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=services["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="session")
def ray_runtime(services):  # type: ignore[no-untyped-def]
    """One local Ray runtime for the whole session (starting Ray takes seconds): 2 CPUs, small
    object store, the services' S3 keys in every worker's environment."""
    ray = require_module("ray")
    if "ceph" not in services.get("SSEPT_SERVICES", "").split():
        unavailable("Ray tests checkpoint to the RGW bucket: the ceph test service is not running")
    worker_env = {k: v for k, v in services.items() if k.startswith(("AWS_", "S3_", "MLFLOW_"))}
    worker_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        log_to_driver=True,
        runtime_env={"env_vars": worker_env},
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def s3_buckets(s3_services, monkeypatch):  # type: ignore[no-untyped-def]
    """Fresh buckets on the RGW for one test (BUCKET_* set to them), so that runs never share keys;
    the MLflow artifacts bucket stays the server's."""
    import uuid

    from ssept.storage import Buckets

    client = s3_client(s3_services)
    tag = uuid.uuid4().hex[:8]
    defaults = Buckets()
    names = {}
    for field, env in (("raw", "BUCKET_RAW_DATA"), ("processed", "BUCKET_PROCESSED_DATA"), ("features", "BUCKET_FEATURES"),
                       ("models", "BUCKET_MODELS"), ("logs", "BUCKET_LOGS"), ("ray_checkpoints", "BUCKET_RAY_CHECKPOINTS")):
        names[field] = f"t{tag}-{getattr(defaults, field)}"
        client.create_bucket(Bucket=names[field])
        monkeypatch.setenv(env, names[field])
    return Buckets(**names, mlflow_artifacts=defaults.mlflow_artifacts)
