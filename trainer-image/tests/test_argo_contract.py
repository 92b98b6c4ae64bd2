"""The training-pipeline WorkflowTemplate, as the platform renders it (components/platform/
argoPipeline.ts, with the RayJob's `ssept train` entrypoint), calls the trainer CLI with arguments
the real `ssept` parser accepts, for every dataset the template allows."""

import contextlib
import io
import json
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO_ROOT, unavailable
from ssept.cli import build_parser

RENDER = """
const { trainingPipeline } = require("./components/platform/argoPipeline");
const out = {};
for (const gpu of [true, false]) {
  out[gpu ? "gpu" : "cpu"] = trainingPipeline({
    pipelineNamespace: "pipeline", serviceAccount: "argo-pipeline", image: "ssept-trainer:test",
    mlflowTrackingUri: "http://mlflow.mlflow:5000", rayNamespace: "ray", rayClusterName: "ray", gpu,
  });
}
process.stdout.write(JSON.stringify(out));
"""
WORKFLOW_NAME = "training-pipeline-x7k2p"


@pytest.fixture(scope="module")
def rendered() -> dict:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "ts-node").is_dir():
        unavailable("rendering the pipeline needs node and the repository's node_modules (npm ci)")
    proc = subprocess.run([node, "-r", "ts-node/register/transpile-only", "-e", RENDER], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _ssept_invocations(template: dict) -> dict[str, list[str]]:
    """template name -> the argv after `ssept`, for container steps and the RayJob's entrypoint."""
    calls = {}
    for step in template["spec"]["templates"]:
        if "container" in step:
            assert step["container"]["command"] == ["ssept"], step["name"]
            calls[step["name"]] = [str(a) for a in step["container"]["args"]]
        elif "resource" in step:
            manifest = yaml.safe_load(step["resource"]["manifest"])
            assert manifest["kind"] == "RayJob", step["name"]
            argv = shlex.split(manifest["spec"]["entrypoint"])
            assert argv[0] == "ssept", manifest["spec"]["entrypoint"]
            calls[step["name"]] = argv[1:]
    return calls


def _resolve(arg: str, parameters: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "workflow.name":
            return WORKFLOW_NAME
        key = name.removeprefix("workflow.parameters.")
        assert name.startswith("workflow.parameters.") and key in parameters, f"unknown Argo expression {{{{{name}}}}}"
        return parameters[key]

    return re.sub(r"\{\{\s*([^}\s]+)\s*\}\}", value, arg)


def _parse(argv: list[str]):
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`ssept {' '.join(argv)}` does not parse: {errors.getvalue().strip()}")


@pytest.mark.parametrize("variant", ["gpu", "cpu"])
def test_every_step_parses_with_the_real_cli(rendered, variant):
    template = rendered[variant]
    defaults = {p["name"]: str(p["value"]) for p in template["spec"]["arguments"]["parameters"]}
    datasets = next(p["enum"] for p in template["spec"]["arguments"]["parameters"] if p["name"] == "dataset")
    calls = _ssept_invocations(template)
    stages = {argv[0] for argv in calls.values()}
    assert stages == {"ingest", "clean", "features", "train", "evaluate", "register", "export"}, calls
    for dataset in datasets:
        parameters = {**defaults, "dataset": dataset}
        for name, argv in calls.items():
            args = _parse([_resolve(a, parameters) for a in argv])
            assert args.stage == argv[0]
            if getattr(args, "dataset", None) is not None:
                assert args.dataset == dataset, name
    train = _parse([_resolve(a, defaults) for a in calls["train"]])
    assert train.run_name == WORKFLOW_NAME and train.ray_workers == int(defaults["numWorkers"])
    assert train.ray_gpus_per_worker == (1.0 if variant == "gpu" else 0.0) and train.tracking == "mlflow"
    # The hyper-parameters left at `default` come from each dataset's preset, not the template.
    from ssept.cli import _apply_preset
    from ssept.presets import get_preset

    for dataset in datasets:
        args = _parse([_resolve(a, {**defaults, "dataset": dataset}) for a in calls["train"]])
        _apply_preset(args)
        preset = get_preset(dataset)
        assert args.maxlen is None  # the features version's, itself the dataset's default
        assert (args.item_dim, args.user_dim, args.sse_user_keep, args.sse_item_keep) == (
            preset.model["item_dim"], preset.model["user_dim"], preset.train["sse_user_keep"], preset.train["sse_item_keep"])
        assert args.window_sample_prob == preset.train.get("window_sample_prob", 0.0)
        assert _parse([_resolve(a, {**defaults, "dataset": dataset}) for a in calls["features"]]).maxlen is None
    # The later steps find what train wrote: the run name is the workflow's name.
    assert _parse([_resolve(a, defaults) for a in calls["register"]]).run_name == WORKFLOW_NAME
    for step in ("evaluate", "export"):
        assert _parse([_resolve(a, defaults) for a in calls[step]]).model == f"{defaults['dataset']}/{WORKFLOW_NAME}"


def test_a_wrong_flag_is_caught(rendered):
    template = json.loads(json.dumps(rendered["cpu"]))
    step = next(s for s in template["spec"]["templates"] if s["name"] == "features")
    step["container"]["args"] = [a.replace("--maxlen", "--max-len") for a in step["container"]["args"]]
    defaults = {p["name"]: str(p["value"]) for p in template["spec"]["arguments"]["parameters"]}
    argv = [_resolve(a, defaults) for a in _ssept_invocations(template)["features"]]
    with pytest.raises(pytest.fail.Exception, match="unrecognized arguments: --max-len"):
        _parse(argv)
