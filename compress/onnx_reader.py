"""ONNX models (through the ``onnx`` package) as a chain of Linear layers.

A file must pass ``onnx.checker`` (full check, with shape inference); then its nodes are
read in order (ONNX stores them topologically) as one chain from the graph's single data
input to its single output. The first dimension of the input is the batch, whatever its
declared size (PyTorch's exporter often fixes it at 1). Ops, each with a handler in `OPS`:

* ``Gemm`` (``transA = 0``; ``alpha``, ``beta``, ``transB`` honoured; constant B and C);
* ``MatMul`` by a constant matrix, optionally followed by ``Add`` of a constant bias;
* ``Relu`` after a layer (sets its ReLU flag);
* ``Flatten`` (``axis = 1``) and ``Reshape`` to ``(batch, features)``;
* ``Constant`` (a constant operand, e.g. a Reshape's shape).

Any other op, a node off the chain, or a layout outside these rules raises an
`UnsupportedLayerError` naming the op and the node. The handlers share a small `Reader`
state (the data tensor's name, its per-sample shape, the layers so far), so more ops
(Conv, MaxPool, AveragePool) can be added as handlers without touching the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .loader import LinearLayer, NonFiniteWeightsError, ShapeMismatchError, UnreadableModelError, \
    UnsupportedLayerError

__all__ = ["OPS", "Reader", "read_onnx", "load_onnx"]


def _node_name(node, index: int) -> str:
    return node.name or f"#{index} ({node.op_type})"


class Reader:
    """What the op handlers read and update while walking the chain."""

    def __init__(self, model, source: str):
        from onnx import numpy_helper

        self.source = source
        graph = model.graph
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise UnsupportedLayerError(f"{source}: the graph has {len(inputs)} data input(s) and "
                                        f"{len(graph.output)} output(s); one of each is supported")
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) < 2:
            raise UnsupportedLayerError(f"{source}: input {inputs[0].name!r} has rank {len(dims)}; the first "
                                        "dimension is the batch, so an input needs at least 2 dimensions")
        self.input_name = inputs[0].name
        self.output_name = graph.output[0].name
        self.shape: tuple | None = None if None in dims[1:] else tuple(dims[1:])   # per sample
        self.input_shape = self.shape
        self.current = inputs[0].name          # the tensor on the data path
        self.layers: list[LinearLayer] = []
        self.last_op = None                    # op type that produced `current`
        self.node = ""                         # name of the node being read (for messages)

    # ---- helpers for handlers ------------------------------------------------------------

    def fail(self, node, why: str):
        raise UnsupportedLayerError(f"{self.source}: node {self.node!r} ({node.op_type}): {why}")

    def const(self, node, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            self.fail(node, f"its {what} {name!r} is not a constant (initializer or Constant node)")
        return self.consts[name]

    def data_input(self, node) -> None:
        """Check that ``node`` takes the chain's tensor as its first input."""
        if not node.input or node.input[0] != self.current:
            self.fail(node, f"does not continue the chain from {self.current!r} (branches and "
                            "side inputs are not supported)")

    def attrs(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def features(self) -> int | None:
        return None if self.shape is None else int(np.prod(self.shape))

    def add_linear(self, node, weight: np.ndarray, bias: np.ndarray, name_hint: str):
        """Append a Linear layer ``(out, in)``; the data must be flat (batch, features)."""
        if self.shape is not None and len(self.shape) != 1:
            self.fail(node, f"its input has per-sample shape {self.shape}; flatten it first (Flatten)")
        n_in = self.features()
        if n_in is not None and weight.shape[1] != n_in:
            raise ShapeMismatchError(f"{self.source}: node {self.node!r} ({node.op_type}) takes "
                                     f"{weight.shape[1]} inputs but receives {n_in}")
        for what, arr in (("weight", weight), ("bias", bias)):
            bad = ~np.isfinite(arr)
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                raise NonFiniteWeightsError(f"{self.source}: node {self.node!r}: {what} contains "
                                            f"{int(bad.sum())} NaN/Inf value(s), the first at index {first}")
        name = name_hint[:-len(".weight")] if name_hint.endswith(".weight") else (node.name or f"fc{len(self.layers) + 1}")
        names = {l.name for l in self.layers}
        if name in names:
            name = f"{name}_{len(self.layers) + 1}"
        if self.input_shape is None and not self.layers:
            self.input_shape = (int(weight.shape[1]),)
        self.layers.append(LinearLayer(name=name, weight=weight.astype(np.float32),
                                       bias=bias.astype(np.float32), relu=False))
        self.shape = (int(weight.shape[0]),)


def _float_const(reader: Reader, node, name: str, what: str) -> np.ndarray:
    arr = reader.const(node, name, what)
    if not np.issubdtype(arr.dtype, np.floating):
        reader.fail(node, f"its {what} {name!r} has dtype {arr.dtype}, not a float type")
    return np.asarray(arr, np.float64)


def _bias_vector(reader: Reader, node, arr: np.ndarray, n_out: int) -> np.ndarray:
    try:
        return np.broadcast_to(arr, (1, n_out)).reshape(n_out).copy()
    except ValueError:
        reader.fail(node, f"bias of shape {arr.shape} does not broadcast to the {n_out} outputs")


def _gemm(reader: Reader, node):
    reader.data_input(node)
    a = reader.attrs(node)
    if a.get("transA", 0):
        reader.fail(node, "transA = 1 is not supported (the first dimension is the batch)")
    b = _float_const(reader, node, node.input[1], "B (weights)")
    if b.ndim != 2:
        reader.fail(node, f"weights of shape {b.shape} are not a matrix")
    w = (b if a.get("transB", 0) else b.T) * float(a.get("alpha", 1.0))     # (out, in)
    bias = np.zeros(w.shape[0])
    if len(node.input) > 2 and node.input[2]:
        c = _float_const(reader, node, node.input[2], "C (bias)")
        bias = _bias_vector(reader, node, c, w.shape[0]) * float(a.get("beta", 1.0))
    reader.add_linear(node, w, bias, node.input[1])


def _matmul(reader: Reader, node):
    reader.data_input(node)
    b = _float_const(reader, node, node.input[1], "second operand (weights)")
    if b.ndim != 2:
        reader.fail(node, f"weights of shape {b.shape} are not a matrix")
    reader.add_linear(node, b.T, np.zeros(b.shape[1]), node.input[1])


def _add(reader: Reader, node):
    if reader.last_op not in ("MatMul", "Gemm"):
        reader.fail(node, "only a bias Add right after MatMul or Gemm is supported")
    if reader.current not in node.input:
        reader.fail(node, f"does not continue the chain from {reader.current!r}")
    others = [n for n in node.input if n != reader.current]
    if len(others) != 1 or len(node.input) != 2:
        reader.fail(node, "adds two tensors of the chain (a residual); only a constant bias is supported")
    layer = reader.layers[-1]
    c = _float_const(reader, node, others[0], "bias")
    layer.bias = (layer.bias + _bias_vector(reader, node, c, layer.weight.shape[0])).astype(np.float32)


def _relu(reader: Reader, node):
    reader.data_input(node)
    if not reader.layers:
        reader.fail(node, "Relu on the input, before any Gemm or MatMul, is not supported")
    reader.layers[-1].relu = True


def _flatten(reader: Reader, node):
    reader.data_input(node)
    axis = reader.attrs(node).get("axis", 1)
    if axis != 1:
        reader.fail(node, f"axis = {axis}; only axis = 1 (keep the batch, flatten each sample) is supported")
    if reader.shape is not None:
        reader.shape = (int(np.prod(reader.shape)),)


def _reshape(reader: Reader, node):
    reader.data_input(node)
    target = [int(d) for d in np.asarray(reader.const(node, node.input[1], "shape")).ravel()]
    # The first dimension is the batch (exporters often write 1 there); the rest must flatten.
    if len(target) != 2:
        reader.fail(node, f"reshapes to {target}; only flattening to (batch, features) is supported")
    n = reader.features()
    if target[1] not in (-1, 0) and n is not None and target[1] != n:
        reader.fail(node, f"reshapes {n} values per sample to {target[1]}")
    if target[1] == 0 and reader.shape is not None and len(reader.shape) != 1:
        reader.fail(node, f"reshape target {target} keeps dimension 1 as it is; only flattening is supported")
    if n is not None:
        reader.shape = (n,)
    elif target[1] > 0:
        reader.shape = (target[1],)


def _constant(reader: Reader, node):
    from onnx import numpy_helper

    for a in node.attribute:
        if a.name == "value":
            reader.consts[node.output[0]] = numpy_helper.to_array(a.t)
            return
    reader.fail(node, "only a Constant with a tensor 'value' is supported")


# op type -> handler(reader, node). The conv issue adds Conv, MaxPool, AveragePool here.
OPS = {"Gemm": _gemm, "MatMul": _matmul, "Add": _add, "Relu": _relu, "Flatten": _flatten,
       "Reshape": _reshape, "Constant": _constant}


def read_onnx(model, source: str = "model.onnx") -> tuple[list[LinearLayer], tuple[int, ...]]:
    """Layers and per-sample input shape of a loaded, checked ``onnx.ModelProto``."""
    reader = Reader(model, source)
    for i, node in enumerate(model.graph.node):
        reader.node = _node_name(node, i)
        handler = OPS.get(node.op_type)
        if handler is None or (node.domain not in ("", "ai.onnx")):
            raise UnsupportedLayerError(
                f"{source}: unsupported op {node.op_type!r} at node {reader.node!r}; supported: "
                f"{', '.join(sorted(OPS))} (Linear layers with ReLU, flattened inputs)")
        handler(reader, node)
        if node.op_type != "Constant":
            reader.current, reader.last_op = node.output[0], node.op_type
    if not reader.layers:
        raise UnsupportedLayerError(f"{source}: the graph has no Gemm or MatMul layer")
    if reader.current != reader.output_name:
        raise UnsupportedLayerError(f"{source}: the chain ends at {reader.current!r}, not at the graph output "
                                    f"{reader.output_name!r}")
    for a, b in zip(reader.layers, reader.layers[1:]):
        if a.weight.shape[0] != b.weight.shape[1]:
            raise ShapeMismatchError(f"{source}: layer {a.name!r} has {a.weight.shape[0]} outputs but "
                                     f"{b.name!r} expects {b.weight.shape[1]} inputs")
    return reader.layers, tuple(reader.input_shape)


def load_onnx(path: str | Path) -> tuple[list[LinearLayer], tuple[int, ...]]:
    """Read, check (``onnx.checker``, full) and convert an ONNX file."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as e:   # protobuf decode errors and I/O errors: all mean "unreadable"
        raise UnreadableModelError(f"cannot read {str(path)!r} as an ONNX model: {_first_line(e)}") from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:   # ValidationError, InferenceError
        raise UnreadableModelError(f"{str(path)!r} fails onnx.checker: {_first_line(e)}") from None
    return read_onnx(model, str(path))


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
