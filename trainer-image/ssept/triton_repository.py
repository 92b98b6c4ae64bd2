"""Triton model repository for the exported graph (onnxruntime backend).

Layout:  <model>/config.pbtxt              default configuration (GPU unless --instance-kind cpu)
         <model>/configs/gpu.pbtxt         KIND_GPU instance group
         <model>/configs/cpu.pbtxt         KIND_CPU instance group
         <model>/<version>/model.onnx
CPU fallback: Triton loads `config.pbtxt` unless started with `--model-config-name=cpu`
(or `gpu`), which selects `configs/<name>.pbtxt`. A serving pod on a node without a GPU
passes `--model-config-name=cpu`; the ONNX file is the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

InstanceKind = Literal["gpu", "cpu"]


def config_pbtxt(
    model_name: str,
    maxlen: int,
    k: int,
    instance_kind: InstanceKind,
    max_batch_size: int = 256,
    instance_count: int = 1,
    max_queue_delay_us: int = 2000,
) -> str:
    if instance_kind not in ("gpu", "cpu"):
        raise ValueError(f"--instance-kind {instance_kind!r}: must be gpu or cpu")
    if max_batch_size < 1:
        raise ValueError(f"--max-batch-size {max_batch_size}: must be >= 1")
    preferred = [b for b in (16, 32, 64, 128) if b <= max_batch_size] or [max_batch_size]
    kind = "KIND_GPU" if instance_kind == "gpu" else "KIND_CPU"
    return f"""name: "{model_name}"
backend: "onnxruntime"
max_batch_size: {max_batch_size}
input [
  {{
    name: "user_id"
    data_type: TYPE_INT64
    dims: [ 1 ]
    reshape: {{ shape: [ ] }}
  }},
  {{
    name: "item_seq"
    data_type: TYPE_INT64
    dims: [ {maxlen} ]
  }}
]
output [
  {{
    name: "top_items"
    data_type: TYPE_INT64
    dims: [ {k} ]
  }},
  {{
    name: "top_scores"
    data_type: TYPE_FP32
    dims: [ {k} ]
  }}
]
dynamic_batching {{
  preferred_batch_size: [ {", ".join(str(b) for b in preferred)} ]
  max_queue_delay_microseconds: {max_queue_delay_us}
}}
instance_group [
  {{
    count: {instance_count}
    kind: {kind}
  }}
]
"""


def write_repository(
    root: Path,
    model_name: str,
    version: int,
    onnx_file: Path,
    maxlen: int,
    k: int,
    default_kind: InstanceKind = "gpu",
    max_batch_size: int = 256,
) -> list[Path]:
    if version < 1:
        raise ValueError(f"--triton-version {version}: Triton versions are integers >= 1")
    model_dir = Path(root) / model_name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    (model_dir / "configs").mkdir(exist_ok=True)
    written = [model_dir / str(version) / "model.onnx"]
    shutil.copyfile(onnx_file, written[0])
    for kind in ("gpu", "cpu"):
        path = model_dir / "configs" / f"{kind}.pbtxt"
        path.write_text(config_pbtxt(model_name, maxlen, k, kind, max_batch_size))  # type: ignore[arg-type]
        written.append(path)
    default = model_dir / "config.pbtxt"
    default.write_text(config_pbtxt(model_name, maxlen, k, default_kind, max_batch_size))
    written.append(default)
    return written
