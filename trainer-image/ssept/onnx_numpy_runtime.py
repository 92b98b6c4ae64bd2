"""A small NumPy interpreter for the ONNX operators that the exported SSE-PT graph uses.

Why it exists: the export's parity check must execute the ONNX file independently of PyTorch.
The image uses ONNX Runtime; `onnx.reference.ReferenceEvaluator` is the next choice; but
Debian 12's python3-onnx is 1.12, which has no reference evaluator, and ONNX Runtime is not
packaged for Debian, so on the CI machine this interpreter runs the graph instead. It follows
the ONNX operator specifications (opsets 13-17) for the operators listed in `_OPS`, and raises
on any other operator rather than guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

Attrs = dict[str, object]


def _np_dtype(onnx_type: int) -> np.dtype:
    helper = getattr(onnx.helper, "tensor_dtype_to_np_dtype", None)
    if helper is not None:
        return np.dtype(helper(onnx_type))
    return np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type])  # onnx < 1.13


def _attrs(node: onnx.NodeProto) -> Attrs:
    out: Attrs = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        out[attr.name] = value
    return out


def _axes(inputs: list, index: int, attrs: Attrs) -> tuple[int, ...] | None:
    if len(inputs) > index and inputs[index] is not None:
        return tuple(int(a) for a in np.asarray(inputs[index]).reshape(-1))
    if "axes" in attrs:
        return tuple(int(a) for a in attrs["axes"])  # type: ignore[union-attr]
    return None


def _constant(inputs: list, attrs: Attrs) -> list:
    if "value" in attrs:
        return [np.asarray(attrs["value"])]
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dtype)]
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(list(attrs[key]), dtype=dtype)]  # type: ignore[call-overload]
    raise NotImplementedError(f"Constant with attributes {sorted(attrs)}")


def _reshape(inputs: list, attrs: Attrs) -> list:
    data, shape = inputs[0], [int(s) for s in inputs[1]]
    if not attrs.get("allowzero", 0):
        shape = [data.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [data.reshape(shape)]


def _unsqueeze(inputs: list, attrs: Attrs) -> list:
    data = inputs[0]
    axes = _axes(inputs, 1, attrs) or ()
    rank = data.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        data = np.expand_dims(data, axis)
    return [data]


def _squeeze(inputs: list, attrs: Attrs) -> list:
    axes = _axes(inputs, 1, attrs)
    if axes is None:
        return [np.squeeze(inputs[0])]
    return [np.squeeze(inputs[0], axis=tuple(a % inputs[0].ndim for a in axes))]


def _shape(inputs: list, attrs: Attrs) -> list:
    shape = np.asarray(inputs[0].shape, dtype=np.int64)
    start, end = int(attrs.get("start", 0)), attrs.get("end")  # type: ignore[arg-type]
    return [shape[start:end] if end is not None else shape[start:]]  # type: ignore[misc]


def _slice(inputs: list, attrs: Attrs) -> list:
    data = inputs[0]
    starts, ends = [int(x) for x in inputs[1]], [int(x) for x in inputs[2]]
    axes = _axes(inputs, 3, {}) or tuple(range(len(starts)))
    steps = [int(x) for x in inputs[4]] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[axis % data.ndim] = slice(start, end, step)
    return [data[tuple(index)]]


def _layer_norm(inputs: list, attrs: Attrs) -> list:
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0.0
    axis = int(attrs.get("axis", -1)) % x.ndim  # type: ignore[call-overload]
    eps = float(attrs.get("epsilon", 1e-5))  # type: ignore[arg-type]
    axes = tuple(range(axis, x.ndim))
    xf = x.astype(np.float64)
    mean = xf.mean(axis=axes, keepdims=True)
    var = ((xf - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (xf - mean) / np.sqrt(var + eps) * scale + bias
    return [y.astype(x.dtype)]


def _softmax(inputs: list, attrs: Attrs) -> list:
    x = inputs[0]
    axis = int(attrs.get("axis", -1))  # type: ignore[call-overload]
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


def _reduce(fn: Callable) -> Callable[[list, Attrs], list]:
    def run(inputs: list, attrs: Attrs) -> list:
        axes = _axes(inputs, 1, attrs)
        keepdims = bool(attrs.get("keepdims", 1))
        if axes is None or len(axes) == 0:
            if attrs.get("noop_with_empty_axes", 0):
                return [inputs[0]]
            axes = tuple(range(inputs[0].ndim))
        return [fn(inputs[0], axis=axes, keepdims=keepdims).astype(inputs[0].dtype)]

    return run


def _div(inputs: list, attrs: Attrs) -> list:
    a, b = inputs
    if np.issubdtype(a.dtype, np.integer):
        return [np.trunc(a / b).astype(a.dtype)]
    return [(a / b).astype(a.dtype)]


def _trilu(inputs: list, attrs: Attrs) -> list:
    k = int(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else 0
    upper = int(attrs.get("upper", 1))  # type: ignore[call-overload]
    return [np.triu(inputs[0], k) if upper else np.tril(inputs[0], k)]


def _eye_like(inputs: list, attrs: Attrs) -> list:
    rows, cols = inputs[0].shape
    dtype = _np_dtype(int(attrs["dtype"])) if "dtype" in attrs else inputs[0].dtype  # type: ignore[call-overload]
    return [np.eye(rows, cols, int(attrs.get("k", 0)), dtype=dtype)]  # type: ignore[call-overload]


def _scatter_elements(inputs: list, attrs: Attrs) -> list:
    if attrs.get("reduction", "none") != "none":
        raise NotImplementedError(f"ScatterElements reduction={attrs['reduction']}")
    data, indices, updates = inputs
    axis = int(attrs.get("axis", 0)) % data.ndim  # type: ignore[call-overload]
    out = data.copy()
    indices = np.where(indices < 0, indices + data.shape[axis], indices)
    np.put_along_axis(out, indices, updates, axis=axis)
    return [out]


def _topk(inputs: list, attrs: Attrs) -> list:
    x, k = inputs[0], int(np.asarray(inputs[1]).reshape(-1)[0])
    axis = int(attrs.get("axis", -1)) % x.ndim  # type: ignore[call-overload]
    largest = int(attrs.get("largest", 1))  # type: ignore[call-overload]
    # Stable sort: among equal values the lower index comes first, as the spec requires.
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")
    indices = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, indices, axis=axis), indices.astype(np.int64)]


def _gemm(inputs: list, attrs: Attrs) -> list:
    a, b = inputs[0], inputs[1]
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    y = float(attrs.get("alpha", 1.0)) * (a @ b)  # type: ignore[arg-type]
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + float(attrs.get("beta", 1.0)) * inputs[2]  # type: ignore[arg-type]
    return [y.astype(a.dtype)]


def _elementwise(fn: Callable) -> Callable[[list, Attrs], list]:
    return lambda inputs, attrs: [np.asarray(fn(*inputs))]


def _same_dtype(fn: Callable) -> Callable[[list, Attrs], list]:
    return lambda inputs, attrs: [np.asarray(fn(*inputs)).astype(inputs[0].dtype)]


_OPS: dict[str, Callable[[list, Attrs], list]] = {
    "Constant": _constant,
    "Identity": lambda i, a: [i[0]],
    "Cast": lambda i, a: [i[0].astype(_np_dtype(int(a["to"])))],  # type: ignore[call-overload]
    "Shape": _shape,
    "Gather": lambda i, a: [np.take(i[0], i[1], axis=int(a.get("axis", 0)))],  # type: ignore[call-overload]
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Transpose": lambda i, a: [np.transpose(i[0], a.get("perm"))],  # type: ignore[arg-type]
    "Concat": lambda i, a: [np.concatenate(i, axis=int(a["axis"]))],  # type: ignore[call-overload]
    "Slice": _slice,
    "Expand": lambda i, a: [np.broadcast_to(i[0], np.broadcast_shapes(i[0].shape, tuple(int(s) for s in i[1]))).copy()],
    "ConstantOfShape": lambda i, a: [
        np.full(tuple(int(s) for s in i[0]), np.asarray(a.get("value", np.zeros(1, np.float32))).reshape(-1)[0])
    ],
    "Range": lambda i, a: [np.arange(i[0], i[1], i[2]).astype(np.asarray(i[0]).dtype)],
    "MatMul": _same_dtype(np.matmul),
    "Gemm": _gemm,
    "Add": _same_dtype(np.add),
    "Sub": _same_dtype(np.subtract),
    "Mul": _same_dtype(np.multiply),
    "Div": _div,
    "Neg": _same_dtype(np.negative),
    "Sqrt": _same_dtype(np.sqrt),
    "Pow": _same_dtype(np.power),
    "Relu": _same_dtype(lambda x: np.maximum(x, 0)),
    "Sigmoid": _same_dtype(lambda x: 1.0 / (1.0 + np.exp(-x))),
    "Equal": _elementwise(np.equal),
    "Less": _elementwise(np.less),
    "Greater": _elementwise(np.greater),
    "Not": _elementwise(np.logical_not),
    "And": _elementwise(np.logical_and),
    "Or": _elementwise(np.logical_or),
    "Where": _elementwise(np.where),
    "Softmax": _softmax,
    "LayerNormalization": _layer_norm,
    "ReduceSum": _reduce(np.sum),
    "ReduceMean": _reduce(np.mean),
    "Trilu": _trilu,
    "EyeLike": _eye_like,
    "ScatterElements": _scatter_elements,
    "TopK": _topk,
}


class NumpyOnnxRuntime:
    def __init__(self, model: onnx.ModelProto | str | Path) -> None:
        self.model = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
        graph = self.model.graph
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise NotImplementedError(f"operator domain {node.domain!r} ({node.op_type}) is not supported")
        missing = sorted({n.op_type for n in graph.node} - set(_OPS))
        if missing:
            raise NotImplementedError(f"operators not implemented by the NumPy ONNX runtime: {', '.join(missing)}")
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in self.initializers]
        self.output_names = [o.name for o in graph.output]

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        missing = set(self.input_names) - set(feeds)
        if missing:
            raise ValueError(f"missing inputs: {sorted(missing)}")
        values: dict[str, np.ndarray] = {**self.initializers, **{k: np.asarray(v) for k, v in feeds.items()}}
        for node in self.model.graph.node:
            inputs = [values[name] if name else None for name in node.input]
            outputs = _OPS[node.op_type](inputs, _attrs(node))
            for name, value in zip(node.output, outputs):
                if name:
                    values[name] = value
        return [values[name] for name in (output_names or self.output_names)]
