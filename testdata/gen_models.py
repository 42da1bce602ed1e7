#!/usr/bin/env python3
"""Generate hetc's small ONNX test models (deterministic).

Run from anywhere:  python3 testdata/gen_models.py

Writes:
  testdata/models/<name>/model.onnx + test_data_set_0/{input_*,output_*}.pb   (valid models)
  testdata/models/<name>.onnx                                                   (invalid models)
  testdata/bad/*.onnx                                                           (malformed files)

Everything is derived from fixed numpy seeds; no timestamps or host data end up
in the files, so re-running produces byte-identical output.
Reference outputs are computed with onnxruntime, all graph optimizations disabled.
"""

import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
BAD = os.path.join(HERE, "bad")

PRODUCER = "hetc-testdata"
IR_MODERN = 8  # supported by every onnxruntime we care about; opset 13/17 need IR >= 7/8
F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def rng(seed):
    return np.random.RandomState(seed)


def randf(r, *shape, scale=1.0):
    return (r.standard_normal(shape) * scale).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name=name)


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def const_node(name, out, arr):
    return helper.make_node("Constant", [], [out], name=name,
                            value=numpy_helper.from_array(np.asarray(arr), name=""))


def make_model(graph, opset, ir_version=IR_MODERN, extra_opsets=()):
    ops = [helper.make_opsetid("", opset)]
    ops += [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=ops, producer_name=PRODUCER)
    m.ir_version = ir_version
    return m


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def save_flat(model, name):
    path = os.path.join(MODELS, name + ".onnx")
    write_bytes(path, model.SerializeToString())
    return path


def run_ort(model_path, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return names, sess.run(names, feeds)


def save_valid(model, name, inputs, external=False):
    """Save model at models/<name>/model.onnx, check it, run ORT, write test set.

    inputs: list of (graph_input_name, ndarray) in graph-input order.
    """
    d = os.path.join(MODELS, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    if external:
        onnx.save_model(model, path, save_as_external_data=True,
                        all_tensors_to_one_file=True, location="model.onnx.data",
                        size_threshold=0, convert_attribute=False)
    else:
        write_bytes(path, model.SerializeToString())
    onnx.checker.check_model(path, full_check=True)

    feeds = {n: a for n, a in inputs}
    out_names, outs = run_ort(path, feeds)
    graph_outs = [o.name for o in onnx.load(path, load_external_data=False).graph.output]
    assert out_names == graph_outs, (out_names, graph_outs)

    ts = os.path.join(d, "test_data_set_0")
    os.makedirs(ts, exist_ok=True)
    for i, (n, a) in enumerate(inputs):
        write_bytes(os.path.join(ts, "input_%d.pb" % i),
                    numpy_helper.from_array(a, name=n).SerializeToString())
    for i, (n, a) in enumerate(zip(out_names, outs)):
        write_bytes(os.path.join(ts, "output_%d.pb" % i),
                    numpy_helper.from_array(np.asarray(a), name=n).SerializeToString())
    return path


# ----------------------------------------------------------------------------
# valid models
# ----------------------------------------------------------------------------

def gen_tiny_cnn():
    r = rng(1)
    inits = [
        init("conv1.weight", randf(r, 8, 3, 3, 3, scale=0.3)),
        init("conv1.bias", randf(r, 8, scale=0.1)),
        init("conv2.weight", randf(r, 8, 8, 1, 1, scale=0.3)),
        init("fc.weight", randf(r, 10, 8, scale=0.3)),
        init("fc.bias", randf(r, 10, scale=0.1)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["conv1_out"],
                         name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv1_out"], ["relu_out"], name="relu"),
        helper.make_node("MaxPool", ["relu_out"], ["pool_out"], name="pool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool_out", "conv2.weight"], ["conv2_out"],
                         name="conv2", kernel_shape=[1, 1]),
        helper.make_node("Add", ["conv2_out", "pool_out"], ["add_out"], name="residual"),
        helper.make_node("GlobalAveragePool", ["add_out"], ["gap_out"], name="gap"),
        helper.make_node("Flatten", ["gap_out"], ["flat_out"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat_out", "fc.weight", "fc.bias"], ["y"], name="fc",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    g = helper.make_graph(nodes, "tiny_cnn", [vi("x", F32, [1, 3, 16, 16])],
                          [vi("y", F32, [1, 10])], inits)
    m = make_model(g, 17)
    x = randf(rng(101), 1, 3, 16, 16)
    return save_valid(m, "tiny_cnn", [("x", x)])


def gen_pad_chain():
    # Node pattern copied from fast_style_transfer's /conv1/pad/* (torch.onnx,
    # F.pad(x, (1,1,1,1), mode='reflect')).
    r = rng(2)
    p = "/pad/"
    i64 = lambda v: np.array(v, dtype=np.int64)
    nodes = [
        const_node(p + "Constant", p + "Constant_output_0", i64([4])),
        const_node(p + "Constant_1", p + "Constant_1_output_0", i64([1, 1, 1, 1])),
        helper.make_node("ConstantOfShape", [p + "Constant_output_0"],
                         [p + "ConstantOfShape_output_0"], name=p + "ConstantOfShape",
                         value=numpy_helper.from_array(i64([0]), name="")),
        helper.make_node("Concat", [p + "Constant_1_output_0", p + "ConstantOfShape_output_0"],
                         [p + "Concat_output_0"], name=p + "Concat", axis=0),
        const_node(p + "Constant_2", p + "Constant_2_output_0", i64([-1, 2])),
        helper.make_node("Reshape", [p + "Concat_output_0", p + "Constant_2_output_0"],
                         [p + "Reshape_output_0"], name=p + "Reshape", allowzero=0),
        const_node(p + "Constant_3", p + "Constant_3_output_0", i64([0])),
        const_node(p + "Constant_4", p + "Constant_4_output_0", i64([-1])),
        const_node(p + "Constant_5", p + "Constant_5_output_0", i64([-9223372036854775807])),
        const_node(p + "Constant_6", p + "Constant_6_output_0", i64([-1])),
        helper.make_node("Slice", [p + "Reshape_output_0", p + "Constant_4_output_0",
                                   p + "Constant_5_output_0", p + "Constant_3_output_0",
                                   p + "Constant_6_output_0"],
                         [p + "Slice_output_0"], name=p + "Slice"),
        helper.make_node("Transpose", [p + "Slice_output_0"], [p + "Transpose_output_0"],
                         name=p + "Transpose", perm=[1, 0]),
        const_node(p + "Constant_7", p + "Constant_7_output_0", i64([-1])),
        helper.make_node("Reshape", [p + "Transpose_output_0", p + "Constant_7_output_0"],
                         [p + "Reshape_1_output_0"], name=p + "Reshape_1", allowzero=0),
        helper.make_node("Cast", [p + "Reshape_1_output_0"], [p + "Cast_output_0"],
                         name=p + "Cast", to=I64),
        helper.make_node("Pad", ["x", p + "Cast_output_0"], [p + "Pad_output_0"],
                         name=p + "Pad", mode="reflect"),
        helper.make_node("Conv", [p + "Pad_output_0", "conv.weight", "conv.bias"], ["y"],
                         name="/conv/Conv", dilations=[1, 1], group=1, kernel_shape=[3, 3],
                         pads=[0, 0, 0, 0], strides=[1, 1]),
    ]
    inits = [init("conv.weight", randf(r, 4, 2, 3, 3, scale=0.3)),
             init("conv.bias", randf(r, 4, scale=0.1))]
    g = helper.make_graph(nodes, "pad_chain", [vi("x", F32, [1, 2, 6, 6])],
                          [vi("y", F32, [1, 4, 6, 6])], inits)
    m = make_model(g, 17)
    x = randf(rng(102), 1, 2, 6, 6)
    return save_valid(m, "pad_chain", [("x", x)])


def gen_shape_chain():
    # torch: y = conv(x); y = y.view(y.size(0), -1); softmax(y, 1)
    r = rng(3)
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["conv_out"],
                         name="/conv/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["conv_out"], ["shape_out"], name="/Shape"),
        const_node("/Constant", "idx0", np.array(0, dtype=np.int64)),
        helper.make_node("Gather", ["shape_out", "idx0"], ["gather_out"], name="/Gather", axis=0),
        const_node("/Constant_1", "axes0", np.array([0], dtype=np.int64)),
        helper.make_node("Unsqueeze", ["gather_out", "axes0"], ["unsq_out"], name="/Unsqueeze"),
        const_node("/Constant_2", "minus1", np.array([-1], dtype=np.int64)),
        helper.make_node("Concat", ["unsq_out", "minus1"], ["new_shape"], name="/Concat", axis=0),
        helper.make_node("Reshape", ["conv_out", "new_shape"], ["flat"], name="/Reshape"),
        helper.make_node("Softmax", ["flat"], ["y"], name="/Softmax", axis=1),
    ]
    inits = [init("conv.weight", randf(r, 4, 4, 3, 3, scale=0.3)),
             init("conv.bias", randf(r, 4, scale=0.1))]
    g = helper.make_graph(nodes, "shape_chain", [vi("x", F32, [1, 4, 8, 8])],
                          [vi("y", F32, [1, 256])], inits)
    m = make_model(g, 13)
    x = randf(rng(103), 1, 4, 8, 8)
    return save_valid(m, "shape_chain", [("x", x)])


def gen_symbolic_dims():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "symbolic_dims", [vi("x", F32, ["N", 3, 8, 8])],
                          [vi("y", F32, ["N", 3, 8, 8])])
    m = make_model(g, 17)
    x = randf(rng(104), 1, 3, 8, 8)  # N=1: use with --input-shape x=1x3x8x8
    return save_valid(m, "symbolic_dims", [("x", x)])


def gen_external_weights():
    r = rng(5)
    inits = [init("conv1.weight", randf(r, 8, 3, 3, 3, scale=0.3)),
             init("conv1.bias", randf(r, 8, scale=0.1))]
    nodes = [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["y"],
                              name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[1, 1], dilations=[1, 1], group=1)]
    g = helper.make_graph(nodes, "external_weights", [vi("x", F32, [1, 3, 16, 16])],
                          [vi("y", F32, [1, 8, 16, 16])], inits)
    m = make_model(g, 17)
    x = randf(rng(105), 1, 3, 16, 16)
    return save_valid(m, "external_weights", [("x", x)], external=True)


def gen_opset7_legacy():
    # IR 3 / opset 7: old-style attributes, initializers repeated in graph.input.
    r = rng(6)
    C = 4
    arrays = [
        ("conv.weight", randf(r, C, 3, 3, 3, scale=0.3)),
        ("conv.bias", randf(r, C, scale=0.1)),
        ("bn.scale", (1.0 + 0.1 * r.standard_normal(C)).astype(np.float32)),
        ("bn.bias", randf(r, C, scale=0.1)),
        ("bn.mean", randf(r, C, scale=0.1)),
        ("bn.var", (0.5 + r.random_sample(C)).astype(np.float32)),
    ]
    inits = [init(n, a) for n, a in arrays]
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["conv_out"],
                         name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization",
                         ["conv_out", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
                         ["bn_out"], name="bn", epsilon=1e-5, momentum=0.9, spatial=1),
        helper.make_node("Clip", ["bn_out"], ["clip_out"], name="clip", min=0.0, max=6.0),
        helper.make_node("Upsample", ["clip_out"], ["up_out"], name="upsample",
                         mode="nearest", scales=[1.0, 1.0, 2.0, 2.0]),
        helper.make_node("Flatten", ["up_out"], ["flat_out"], name="flatten", axis=1),
        helper.make_node("Softmax", ["flat_out"], ["y"], name="softmax", axis=1),
    ]
    graph_inputs = [vi("x", F32, [1, 3, 4, 4])] + [vi(n, F32, list(a.shape)) for n, a in arrays]
    g = helper.make_graph(nodes, "opset7_legacy", graph_inputs,
                          [vi("y", F32, [1, C * 8 * 8])], inits)
    m = make_model(g, 7, ir_version=3)
    x = randf(rng(106), 1, 3, 4, 4)
    # Only x is fed: the other graph inputs have initializers (defaults).
    return save_valid(m, "opset7_legacy", [("x", x)])


def gen_multi_output_split():
    nodes = [
        helper.make_node("Split", ["x", "split_sizes"], ["a", "b"], name="split", axis=1),
        helper.make_node("Sigmoid", ["a"], ["y0"], name="sigmoid"),
        helper.make_node("Tanh", ["b"], ["y1"], name="tanh"),
    ]
    inits = [init("split_sizes", np.array([2, 4], dtype=np.int64))]
    g = helper.make_graph(nodes, "multi_output_split", [vi("x", F32, [1, 6, 4, 4])],
                          [vi("y0", F32, [1, 2, 4, 4]), vi("y1", F32, [1, 4, 4, 4])], inits)
    m = make_model(g, 13)
    x = randf(rng(107), 1, 6, 4, 4)
    return save_valid(m, "multi_output_split", [("x", x)])


def gen_fallback_mix():
    """Ops that phone accelerators refuse for known reasons (hetc support tests)."""
    r = rng(8)
    inits = [
        init("conv1.weight", randf(r, 8, 8, 3, 3, scale=0.2)),
        init("conv1.bias", randf(r, 8, scale=0.1)),
        init("gconv.weight", randf(r, 8, 4, 3, 3, scale=0.2)),
        init("conv2.weight", randf(r, 4, 16, 1, 1, scale=0.3)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("HardSigmoid", ["c1"], ["h"], name="hsig"),
        helper.make_node("Conv", ["h", "gconv.weight"], ["g"], name="gconv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2),
        helper.make_node("Relu", ["g"], ["r"], name="relu"),
        helper.make_node("Transpose", ["r"], ["t"], name="tr", perm=[0, 1, 3, 2]),
        helper.make_node("Concat", ["t", "c1"], ["k"], name="cat", axis=1),
        helper.make_node("Conv", ["k", "conv2.weight"], ["y"], name="conv2", kernel_shape=[1, 1]),
    ]
    g = helper.make_graph(nodes, "fallback_mix", [vi("x", F32, [1, 8, 8, 8])],
                          [vi("y", F32, [1, 4, 8, 8])], inits)
    m = make_model(g, 17)
    x = randf(rng(108), 1, 8, 8, 8)
    return save_valid(m, "fallback_mix", [("x", x)])


# ----------------------------------------------------------------------------
# invalid / unsupported models (flat files, no test sets)
# ----------------------------------------------------------------------------

def gen_unsupported_ops():
    r = rng(8)
    inits = [
        init("conv.weight", randf(r, 4, 3, 3, 3, scale=0.3)),
        init("conv.bias", randf(r, 4, scale=0.1)),
        init("mix.weight", randf(r, 4, 4, scale=0.3)),
        init("k", np.array([2], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["conv_out"],
                         name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Einsum", ["conv_out", "mix.weight"], ["mix_out"], name="mix",
                         equation="nchw,dc->ndhw"),
        helper.make_node("TopK", ["mix_out", "k"], ["topk_vals", "topk_idx"], name="pick",
                         axis=-1, largest=1, sorted=1),
        helper.make_node("Einsum", ["topk_vals"], ["mix2_out"], name="mix2",
                         equation="nchk->nckh"),
        helper.make_node("FancyOp", ["mix2_out"], ["y"], name="fancy", domain="com.example",
                         strength=0.5),
    ]
    g = helper.make_graph(nodes, "unsupported_ops", [vi("x", F32, [1, 3, 8, 8])],
                          [vi("y", F32, [1, 4, 2, 8])], inits,
                          value_info=[vi("conv_out", F32, [1, 4, 8, 8]),
                                      vi("mix_out", F32, [1, 4, 8, 8]),
                                      vi("topk_vals", F32, [1, 4, 8, 2]),
                                      vi("topk_idx", I64, [1, 4, 8, 2]),
                                      vi("mix2_out", F32, [1, 4, 2, 8])])
    m = make_model(g, 17, extra_opsets=[("com.example", 1)])
    return save_flat(m, "unsupported_ops")


def gen_cycle():
    nodes = [helper.make_node("Add", ["x", "d"], ["c"], name="a"),
             helper.make_node("Add", ["c", "x"], ["d"], name="b")]
    g = helper.make_graph(nodes, "cycle", [vi("x", F32, [4])], [vi("c", F32, [4])])
    return save_flat(make_model(g, 17), "cycle")


def gen_dangling_input():
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="add_ghost")]
    g = helper.make_graph(nodes, "dangling_input", [vi("x", F32, [4])], [vi("y", F32, [4])])
    return save_flat(make_model(g, 17), "dangling_input")


def gen_bad_shapes():
    nodes = [helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    g = helper.make_graph(nodes, "bad_shapes",
                          [vi("a", F32, [1, 3, 4, 4]), vi("b", F32, [1, 5, 4, 4])],
                          [vi("y", F32, [None, None, None, None])])
    return save_flat(make_model(g, 17), "bad_shapes")


def external_tensor(name, dims, location, offset, length):
    t = TensorProto()
    t.name = name
    t.data_type = F32
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key = k
        e.value = v
    return t


def gen_missing_external():
    w = external_tensor("w", [4], "does_not_exist.bin", 0, 16)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    g = helper.make_graph(nodes, "missing_external", [vi("x", F32, [4])],
                          [vi("y", F32, [4])], [w])
    return save_flat(make_model(g, 17), "missing_external")


def gen_short_external():
    # tensor needs 16 f32 = 64 bytes, data file has only 10 bytes.
    w = external_tensor("w", [16], "short_external.onnx.data", 0, 64)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    g = helper.make_graph(nodes, "short_external", [vi("x", F32, [16])],
                          [vi("y", F32, [16])], [w])
    p = save_flat(make_model(g, 17), "short_external")
    write_bytes(os.path.join(MODELS, "short_external.onnx.data"), bytes(range(10)))
    return p


def gen_dynamic_reshape():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")]
    g = helper.make_graph(nodes, "dynamic_reshape",
                          [vi("x", F32, [2, 3, 4]), vi("shape", I64, [2])],
                          [vi("y", F32, [None, None])])
    m = make_model(g, 17)
    onnx.checker.check_model(m, full_check=True)  # valid ONNX, just not statically shaped
    return save_flat(m, "dynamic_reshape")


# ----------------------------------------------------------------------------
# malformed corpus (testdata/bad/)
# ----------------------------------------------------------------------------

def raw_tensor(name, dims, raw, dtype=F32):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def bad_conv_model(name, **conv_attrs):
    r = rng(9)
    w = init("w", randf(r, 4, 4, 3, 3, scale=0.3))
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    attrs.update(conv_attrs)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)]
    g = helper.make_graph(nodes, name, [vi("x", F32, [1, 4, 8, 8])],
                          [vi("y", F32, [1, 4, 8, 8])], [w])
    return make_model(g, 17)


def gen_bad(tiny_path):
    tiny = open(tiny_path, "rb").read()
    L = len(tiny)
    out = {}
    out["truncated_header.onnx"] = tiny[:7]
    out["truncated_middle.onnx"] = tiny[:L // 2]
    out["garbage.onnx"] = rng(1000).randint(0, 256, size=256).astype(np.uint8).tobytes()
    out["empty.onnx"] = b""
    for i in range(8):
        r = rng(2000 + i)
        buf = bytearray(tiny)
        lo, hi = i * L // 8, (i + 1) * L // 8
        for pos in sorted(r.choice(np.arange(lo, hi), size=3, replace=False)):
            buf[int(pos)] ^= int(r.randint(1, 256))
        out["bitflip_%d.onnx" % i] = bytes(buf)

    def add_model(name, inputs, outputs, inits, nodes=None):
        nodes = nodes if nodes is not None else [
            helper.make_node("Identity", [inputs[0].name], [outputs[0].name], name="id")]
        g = helper.make_graph(nodes, name, inputs, outputs, inits)
        return make_model(g, 17).SerializeToString()

    # initializer claims 1e9 x 1e9 f32 but carries 4 bytes
    out["huge_dims.onnx"] = add_model(
        "huge_dims", [vi("x", F32, [1, 4])], [vi("y", F32, [1, 4])],
        [raw_tensor("w", [1000000000, 1000000000], b"\0\0\x80\x3f")],
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")])
    # graph input with an i64::MAX dimension
    out["huge_dims_input.onnx"] = add_model(
        "huge_dims_input", [vi("x", F32, [1, 9223372036854775807])],
        [vi("y", F32, [1, 9223372036854775807])], [])
    out["negative_dims.onnx"] = add_model(
        "negative_dims", [vi("x", F32, [3, 2])], [vi("y", F32, [3, 2])],
        [raw_tensor("w", [-3, 2], bytes(24))],
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")])
    out["wrong_raw_size.onnx"] = add_model(
        "wrong_raw_size", [vi("x", F32, [4, 4])], [vi("y", F32, [4, 4])],
        [raw_tensor("w", [4, 4], bytes(12))],
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")])
    out["zero_group_conv.onnx"] = bad_conv_model("zero_group_conv", group=0).SerializeToString()
    out["huge_pads.onnx"] = bad_conv_model("huge_pads", pads=[2 ** 62] * 4).SerializeToString()
    # 40 ConstantOfShape nodes of 2^24 int64 each: 5 GiB of folded values from a 2 KB file
    fill = numpy_helper.from_array(np.array([7], dtype=np.int64), "fill")
    out["many_constant_of_shape.onnx"] = add_model(
        "many_constant_of_shape", [], [vi("c0", I64, [1 << 24])],
        [numpy_helper.from_array(np.array([1 << 24], dtype=np.int64), "shape")],
        [helper.make_node("ConstantOfShape", ["shape"], ["c%d" % i], name="fill%d" % i, value=fill)
         for i in range(40)])

    # shapes that overflowed size arithmetic: an empty tensor's other dims (Concat sums them),
    # a pooling window of 2^39 x 2^39, and a Conv whose MACs exceed 2^64 (valid, but absurd)
    out["overflow_concat_empty.onnx"] = add_model(
        "overflow_concat_empty", [vi("x", F32, [0, 2 ** 62])], [vi("y", F32, None)], [],
        [helper.make_node("Concat", ["x"] * 4, ["y"], name="concat", axis=1)])
    out["overflow_pool_window.onnx"] = add_model(
        "overflow_pool_window", [vi("x", F32, [1, 1, 4])], [vi("y", F32, None)], [],
        [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2 ** 39],
                          dilations=[2 ** 39], pads=[1, 1])])
    out["overflow_conv_macs.onnx"] = add_model(
        "overflow_conv_macs", [vi("x", F32, [1, 2 ** 19, 1]), vi("w", F32, [1, 2 ** 19, 2 ** 19])],
        [vi("y", F32, None)], [],
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[2 ** 19],
                          pads=[2 ** 38, 0])])

    for name, data in out.items():
        write_bytes(os.path.join(BAD, name), data)


# ----------------------------------------------------------------------------

def main():
    if os.path.isdir(MODELS):
        shutil.rmtree(MODELS)
    os.makedirs(MODELS)
    os.makedirs(BAD, exist_ok=True)
    for f in os.listdir(BAD):
        # bad/fuzz-*.onnx are the fuzzer's finds, committed as found: not generated here.
        if not f.startswith("fuzz-"):
            os.remove(os.path.join(BAD, f))

    tiny = gen_tiny_cnn()
    gen_pad_chain()
    gen_shape_chain()
    gen_symbolic_dims()
    gen_external_weights()
    gen_opset7_legacy()
    gen_multi_output_split()
    gen_fallback_mix()

    gen_unsupported_ops()
    gen_cycle()
    gen_dangling_input()
    gen_bad_shapes()
    gen_missing_external()
    gen_short_external()
    gen_dynamic_reshape()

    gen_bad(tiny)

    total = 0
    for root, _, files in sorted(os.walk(HERE)):
        for f in sorted(files):
            p = os.path.join(root, f)
            if p.endswith((".py", ".md")):
                continue
            sz = os.path.getsize(p)
            total += sz
            assert sz < 50 * 1024, (p, sz)
    assert total < 400 * 1024, total
    print("ok: %d bytes total" % total, file=sys.stderr)


if __name__ == "__main__":
    main()
