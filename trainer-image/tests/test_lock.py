"""One set of pins: the project lock, the MLflow server's subset of it, both Dockerfiles and the
environment the tests run in."""

import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a `--generate-hashes` lock."""
    pins = {}
    for block in re.split(r"\n(?=[a-z0-9])", path.read_text()):
        found = re.match(r"([a-z0-9_.-]+)==(\S+)", block)
        if found:
            pins[found.group(1)] = (found.group(2), frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", block)))
    return pins


def test_every_pin_has_hashes_and_the_server_lock_is_a_subset_of_the_project_lock():
    project, server = _pins(ROOT / "requirements.lock"), _pins(ROOT / "mlflow-server" / "requirements.lock")
    assert {"torch", "ray", "mlflow", "mlflow-skinny", "onnx", "onnxruntime", "boto3", "pyarrow"} <= set(project)
    assert all(hashes for _, hashes in project.values()), [n for n, (_, h) in project.items() if not h]
    assert {"mlflow", "psycopg2-binary", "boto3", "prometheus-flask-exporter"} <= set(server)
    different = {name: (pin, project.get(name)) for name, pin in server.items() if project.get(name) != pin}
    assert not different


def test_dockerfiles_install_the_locks_with_hashes():
    trainer = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements.lock" in trainer and "pip install --require-hashes --no-deps -r requirements.lock" in trainer
    server = (ROOT / "mlflow-server" / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps -r /tmp/requirements.lock" in server
    assert "COPY mlflow-server/requirements.lock" in server
    # Both images use the Python the lock was compiled for (its markers resolved for 3.11).
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm$", trainer, re.MULTILINE)
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm$", server, re.MULTILINE)


def test_the_tests_run_on_the_locked_versions():
    wrong = {}
    for name, (version, _) in _pins(ROOT / "requirements.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"this environment differs from requirements.lock (pinned, installed): {wrong}; rerun .ci/run"
