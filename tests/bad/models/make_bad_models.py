#!/usr/bin/python3
"""Writes the catalogue of malformed ONNX models into tests/bad/models/.

    /usr/bin/python3 tests/bad/models/make_bad_models.py

Each case is a small .onnx file that is wrong in exactly one way, and a
line in expect.txt, FILE<TAB>TEXT, where TEXT is part of the one error line
`zinfer info FILE` must print. check_bad_models.py runs them. The files
are committed; run this again after changing a case (the output is
deterministic).

A few files are odd but legal, near a limit or a corner of the format
(many outputs, inputs that have initializers): their TEXT is "(runs)",
and FILE.npz beside them holds inputs and the outputs `zinfer run` must
give, once and with --repeat.

The files are built from protobuf messages directly where onnx.helper
would refuse the mistake, and never passed through onnx.checker.
"""

import os
import random
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64


def value(name, elem_type=FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem_type, shape)


def array(name, data):
    return numpy_helper.from_array(np.asarray(data), name)


def weights(name, shape, seed=0):
    rng = np.random.default_rng(seed)
    return array(name, rng.standard_normal(shape).astype(np.float32))


def model(nodes, inputs=None, outputs=None, initializers=(), opset=13, name="bad"):
    """A ModelProto, bytes not yet; inputs default to x: float [1, 3, 8, 8]"""
    inputs = [value("x", FLOAT, [1, 3, 8, 8])] if inputs is None else inputs
    outputs = [value("y")] if outputs is None else outputs
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 8
    return proto


def conv_model(weight=None, **attributes):
    """x [1, 3, 8, 8] -> Conv (4 filters of 3x3 unless weight says) -> y"""
    if "kernel_shape" not in attributes:
        attributes["kernel_shape"] = [3, 3]
    elif attributes["kernel_shape"] is None:
        del attributes["kernel_shape"]
    weight = weights("w", [4, 3, 3, 3]) if weight is None else weight
    return model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attributes)],
                 initializers=[weight])


def relu_model(initializer, node_input="w"):
    """y = Relu (initializer): the initializer alone is what is wrong"""
    return model([helper.make_node("Relu", [node_input], ["y"], name="relu")],
                 inputs=[], initializers=[initializer])


def raw_tensor(name, data_type, dims, raw=b""):
    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = data_type
    tensor.dims.extend(dims)
    tensor.raw_data = raw
    return tensor


def serialize(proto):
    return proto.SerializeToString()


def varint(number):
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def field(number, payload):
    """A length-delimited protobuf field: a string, bytes or a message"""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def deep_subgraphs(levels):
    """A model whose graph holds a node whose attribute holds a graph whose
    node... `levels` deep, written as wire bytes: onnx's own Python
    protobuf refuses to build or parse messages nested this deep"""
    inner = b""
    for _ in range(levels):
        attribute = field(1, b"g") + varint(20 << 3) + varint(5) + field(6, inner)
        inner = field(1, field(4, b"If") + field(5, attribute))     # graph.node
    opset = field(1, b"") + varint(2 << 3) + varint(13)
    return varint(1 << 3) + varint(8) + field(8, opset) + field(7, inner)


#   Each case: file name, bytes, expected part of the error line. The
#   comment says what is wrong when the name does not.
def cases():
    yield "empty.onnx", b"", "0 bytes is not a plausible model size"

    good = serialize(conv_model())
    yield "truncated.onnx", good[: len(good) // 2], "not a valid ONNX model"

    noise = random.Random(1).randbytes(300)
    yield "random.onnx", noise, "not a valid ONNX model"

    no_graph = helper.make_model(helper.make_graph([], "g", [], []))
    no_graph.ClearField("graph")
    yield "no_graph.onnx", serialize(no_graph), "the model has no graph"

    yield "opset5.onnx", serialize(model([helper.make_node("Relu", ["x"], ["y"])], opset=5)), \
        "ai.onnx opset 5 is not supported"
    yield "opset99.onnx", serialize(model([helper.make_node("Relu", ["x"], ["y"])], opset=99)), \
        "ai.onnx opset 99 is not supported"

    # Initializers
    yield "uint16_initializer.onnx", serialize(relu_model(
        raw_tensor("w", TensorProto.UINT16, [4], bytes(8)))), \
        "element type 4 (UINT16) is not supported"
    strings = helper.make_tensor("w", TensorProto.STRING, [2], [b"a", b"b"])
    yield "string_initializer.onnx", serialize(relu_model(strings)), \
        "element type 8 (STRING) is not supported"
    yield "raw_data_length.onnx", serialize(relu_model(
        raw_tensor("w", FLOAT, [2, 3], bytes(20)))), "needs 6 values, raw_data holds 5"
    short = raw_tensor("w", FLOAT, [4])
    short.ClearField("raw_data")
    short.float_data.extend([1.0, 2.0, 3.0])
    yield "float_data_count.onnx", serialize(relu_model(short)), \
        "needs 4 values, float_data holds 3"
    yield "negative_dims.onnx", serialize(relu_model(raw_tensor("w", FLOAT, [-2, 3]))), \
        "negative or too large"
    yield "huge_initializer.onnx", serialize(relu_model(
        raw_tensor("w", FLOAT, [2 ** 40, 2 ** 40]))), "negative or too large"
    # 64 GB by its dims, with no data: too big to allocate in the test's
    # memory limit, so the error depends on the order of the checks
    yield "huge_initializer_no_data.onnx", serialize(relu_model(
        raw_tensor("w", FLOAT, [2 ** 34]))), "initializer 'w'"
    yield "nine_dims_initializer.onnx", serialize(relu_model(
        raw_tensor("w", FLOAT, [1] * 9, bytes(4)))), "9 dimensions, at most 8"
    external = raw_tensor("w", FLOAT, [4])
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    yield "external_data.onnx", serialize(relu_model(external)), \
        "external data (file 'weights.bin')"
    twice = model([helper.make_node("Add", ["x", "b"], ["y"], name="add")],
                  initializers=[array("b", np.float32(1)), array("b", np.float32(2))])
    yield "duplicate_initializer.onnx", serialize(twice), "initializer 'b' is defined twice"
    nameless = relu_model(array("w", np.ones(4, np.float32)))
    nameless.graph.initializer[0].name = ""
    yield "initializer_without_name.onnx", serialize(nameless), "initializer 0 has no name"

    # Graph inputs and outputs
    yield "nine_dims_input.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        inputs=[value("x", FLOAT, [1] * 9)])), "'x' has 9 dimensions, at most 8"
    yield "double_input.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        inputs=[value("x", TensorProto.DOUBLE, [1, 4])])), \
        "element type 11 (DOUBLE) is not supported"
    sequence = helper.make_tensor_sequence_value_info("x", FLOAT, [1, 4])
    yield "sequence_input.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], inputs=[sequence])), \
        "graph input 'x' is not a tensor"
    unnamed = model([helper.make_node("Relu", ["x"], ["y"], name="relu")])
    unnamed.graph.input[0].ClearField("name")
    yield "input_without_name.onnx", serialize(unnamed), "graph input 0 has no name"
    yield "no_outputs.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], outputs=[])), \
        "the graph has no outputs"
    yield "output_unproduced.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], outputs=[value("z")])), \
        "graph output 'z' is not produced by any node"
    unnamed = model([helper.make_node("Relu", ["x"], ["y"], name="relu")])
    unnamed.graph.output[0].ClearField("name")
    yield "output_without_name.onnx", serialize(unnamed), "graph output 0 has no name"

    # Graph structure
    yield "missing_initializer.onnx", serialize(model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])])), \
        "input 1 'w' is not produced by any node"
    yield "cycle.onnx", serialize(model(
        [helper.make_node("Add", ["x", "b"], ["a"], name="one"),
         helper.make_node("Relu", ["a"], ["b"], name="two"),
         helper.make_node("Relu", ["a"], ["y"], name="three")])), "cycle through node"
    yield "two_producers.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="first"),
         helper.make_node("Sigmoid", ["x"], ["y"], name="second")])), \
        "value 'y' is produced twice"
    yield "unsupported_op.onnx", serialize(model(
        [helper.make_node("LpNormalization", ["x"], ["y"], name="norm")])), \
        "op 'LpNormalization' is not supported"
    yield "empty_op_type.onnx", serialize(model(
        [helper.make_node("", ["x"], ["y"], name="nothing")])), "op '' is not supported"
    yield "foreign_domain.onnx", serialize(model(
        [helper.make_node("FusedConv", ["x", "w"], ["y"], name="fused", domain="com.microsoft")],
        initializers=[weights("w", [4, 3, 3, 3])])), "of domain 'com.microsoft' is not supported"
    # Subgraphs that do not fit their node (If, Loop, Scan)
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "branch", [],
                               [value("t")])
    pair = helper.make_graph([helper.make_node("Relu", ["x"], ["t"]),
                              helper.make_node("Neg", ["x"], ["u"])], "pair", [],
                             [value("t"), value("u")])
    wide = helper.make_graph([helper.make_node("Concat", ["x", "x"], ["t"], axis=1)], "wide",
                             [], [value("t")])
    if_inputs = [value("x", FLOAT, [1, 4]), value("c", TensorProto.BOOL, [])]
    yield "if_missing_branch.onnx", serialize(model(
        [helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch)],
        inputs=if_inputs)), "node 'choose' (If): attribute 'else_branch' (a graph) is missing"
    yield "if_output_count.onnx", serialize(model(
        [helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch,
                          else_branch=pair)],
        inputs=if_inputs)), "else_branch has 2 outputs, the node 1"
    # Data-dependent condition, branches of different shapes
    yield "if_branch_shapes.onnx", serialize(model(
        [helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch,
                          else_branch=wide)],
        inputs=if_inputs)), "float32 [1, 4] in then_branch and float32 [1, 8] in else_branch"
    yield "if_graphs_list.onnx", serialize(model(
        [helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch,
                          else_branch=branch, extra=[branch, branch])],
        inputs=if_inputs)), "attribute 'extra': lists of graphs are not supported"
    # A node of the branch reads a value no graph defines
    lost = helper.make_graph([helper.make_node("Relu", ["nowhere"], ["t"])], "lost", [],
                             [value("t")])
    yield "if_undefined_value.onnx", serialize(model(
        [helper.make_node("If", ["c"], ["y"], name="choose", then_branch=lost,
                          else_branch=branch)],
        inputs=if_inputs)), "node 'choose' (If): a subgraph reads 'nowhere', which no graph defines"
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Add", ["h", "x"], ["h_next"])], "body",
        [value("i", INT64, []), value("cond", TensorProto.BOOL, []), value("h")],
        [value("cond_out"), value("h_next"), value("h_next")])
    loop_inputs = [value("x", FLOAT, [1, 4]), value("m", INT64, [])]
    yield "loop_output_count.onnx", serialize(model(
        [helper.make_node("Loop", ["m", "", "x"], ["y"], name="loop", body=body)],
        inputs=loop_inputs)), "node 'loop' (Loop): 1 outputs, expected 2"
    # Scan outputs stack one slice per iteration: M must be known
    yield "loop_trips_unknown.onnx", serialize(model(
        [helper.make_node("Loop", ["m", "", "x"], ["y", "s"], name="loop", body=body)],
        inputs=loop_inputs, outputs=[value("y"), value("s")])), \
        "scan outputs need the number of iterations at plan time"
    yield "scan_missing_count.onnx", serialize(model(
        [helper.make_node("Scan", ["x", "x"], ["y", "s"], name="scan",
                          body=helper.make_graph(
                              [helper.make_node("Add", ["h", "r"], ["h_next"])], "body",
                              [value("h"), value("r")], [value("h_next"), value("h_next")]))],
        inputs=[value("x", FLOAT, [4, 4])], outputs=[value("y"), value("s")])), \
        "attribute 'num_scan_inputs' is -1, expected 1 to 2"
    yield "too_many_inputs.onnx", serialize(model(
        [helper.make_node("Relu", ["x", "x"], ["y"], name="relu")])), \
        "expected 1 to 1 inputs, got 2"
    yield "too_many_outputs.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y", "z"], name="relu")])), \
        "expected 1 to 1 outputs, got 2"
    # Split's outputs are all required; the first is left out
    yield "split_omitted_output.onnx", serialize(model(
        [helper.make_node("Split", ["x"], ["", "b"], name="split", axis=1),
         helper.make_node("Relu", ["b"], ["y"], name="relu")],
        inputs=[value("x", FLOAT, [1, 4])])), "'split'"

    # A required input left out (an empty name marks an omitted optional
    # input); Add says "input 0 is required", every op should
    yield "unsqueeze_omitted_data.onnx", serialize(model(
        [helper.make_node("Unsqueeze", ["", "axes"], ["y"], name="unsqueeze")],
        initializers=[array("axes", np.array([0], np.int64))])), "input 0 is required"
    yield "conv_omitted_weights.onnx", serialize(model(
        [helper.make_node("Conv", ["x", "", "b"], ["y"], name="conv", kernel_shape=[3, 3])],
        initializers=[array("b", np.zeros(4, np.float32))])), "input 1 is required"
    yield "add_omitted_input.onnx", serialize(model(
        [helper.make_node("Add", ["", "x"], ["y"], name="add")])), "input 0 is required"

    # Reshape
    reshape_input = [value("x", FLOAT, [2, 3, 4])]
    yield "reshape_two_minus_one.onnx", serialize(model(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")], inputs=reshape_input,
        initializers=[array("s", np.array([-1, -1], np.int64))])), "more than one -1"
    yield "reshape_wrong_count.onnx", serialize(model(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")], inputs=reshape_input,
        initializers=[array("s", np.array([5, 5], np.int64))])), \
        "cannot reshape [2, 3, 4] (24 elements)"
    yield "reshape_not_constant.onnx", serialize(model(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
        inputs=reshape_input + [value("s", INT64, [2])])), \
        "must be a constant known before the run"

    # Conv and its attributes
    yield "conv_weight_rank.onnx", serialize(conv_model(weights("w", [4, 27]))), \
        "expected 4-d weights"
    group = conv_model()
    group.graph.node[0].attribute.append(helper.make_attribute("group", "two"))
    yield "conv_group_string.onnx", serialize(group), "'group'"
    yield "conv_group_mismatch.onnx", serialize(conv_model(group=2)), \
        "with group 2 take 6 input channels"
    yield "conv_kernel_mismatch.onnx", serialize(conv_model(kernel_shape=[5, 5])), \
        "'kernel_shape' [0] = 5 does not match"
    yield "conv_zero_stride.onnx", serialize(conv_model(strides=[0, 0])), \
        "'strides': values must be at least 1"
    yield "conv_negative_pads.onnx", serialize(conv_model(pads=[-9, -9, -9, -9])), \
        "'pads': values must be at least 0"
    yield "conv_kernel_too_large.onnx", serialize(conv_model(
        weights("w", [4, 3, 9, 9]), kernel_shape=[9, 9])), "the kernel spans 9"
    yield "conv_bad_auto_pad.onnx", serialize(conv_model(auto_pad="MIDDLE")), \
        "'auto_pad' = 'MIDDLE' is not supported"
    kernel = conv_model(kernel_shape=None)
    kernel.graph.node[0].ClearField("attribute")
    kernel.graph.node[0].attribute.append(helper.make_attribute("kernel_shape", [3.0, 3.0]))
    yield "conv_kernel_shape_floats.onnx", serialize(kernel), \
        "'kernel_shape': expected a list of ints"

    # Other ops whose attributes or constants are out of range
    yield "gemm_mismatch.onnx", serialize(model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="gemm")],
        inputs=[value("x", FLOAT, [1, 4])], initializers=[weights("w", [5, 3])])), \
        "inner dimensions differ"
    yield "concat_axis.onnx", serialize(model(
        [helper.make_node("Concat", ["x", "x"], ["y"], name="concat", axis=7)])), \
        "attribute 'axis' = 7 is out of range"
    yield "transpose_perm.onnx", serialize(model(
        [helper.make_node("Transpose", ["x"], ["y"], name="transpose", perm=[0, 0, 1, 2])])), \
        "'perm' is not a permutation of 0..3 (value 0 at 1)"
    yield "transpose_perm_range.onnx", serialize(model(
        [helper.make_node("Transpose", ["x"], ["y"], name="transpose", perm=[0, 1, 2, 9])])), \
        "'perm' is not a permutation of 0..3 (value 9 at 3)"
    yield "softmax_axis.onnx", serialize(model(
        [helper.make_node("Softmax", ["x"], ["y"], name="softmax", axis=-9)])), \
        "'axis' = -9 is out of range"
    yield "gather_index.onnx", serialize(model(
        [helper.make_node("Gather", ["d", "i"], ["y"], name="gather", axis=0)], inputs=[],
        initializers=[array("d", np.arange(4, dtype=np.float32)),
                      array("i", np.array([10], np.int64))])), \
        "index 10 (at 0) is out of range"
    yield "cast_string.onnx", serialize(model(
        [helper.make_node("Cast", ["x"], ["y"], name="cast", to=TensorProto.STRING)])), \
        "'to' = 8 (STRING) is not supported"
    yield "range_zero_delta.onnx", serialize(model(
        [helper.make_node("Range", ["a", "b", "d"], ["y"], name="range")], inputs=[],
        initializers=[array("a", np.array(0, np.int64)), array("b", np.array(10, np.int64)),
                      array("d", np.array(0, np.int64))])), "Range delta is 0"
    yield "range_huge.onnx", serialize(model(
        [helper.make_node("Range", ["a", "b", "d"], ["y"], name="range")], inputs=[],
        initializers=[array("a", np.array(0, np.int64)), array("b", np.array(2 ** 62, np.int64)),
                      array("d", np.array(1, np.int64))])), \
        "Range would make 4611686018427387904 elements"
    # 16 GB of ones from a 2-element shape, made while folding constants
    # Counts past zinfer's limits, refused where the file is read: a
    # node with more inputs than ZI_MAX_NODE_INPUTS (1024), more outputs
    # than ZI_MAX_NODE_OUTPUTS (256), a graph with more inputs or outputs
    # than ZI_MAX_GRAPH_INPUTS / ZI_MAX_GRAPH_OUTPUTS (256)
    yield "node_inputs_over_limit.onnx", serialize(model(
        [helper.make_node("Concat", ["x"] * 1025, ["y"], name="wide", axis=1)])), \
        "node 0 'wide' (Concat): 1025 inputs, at most 1024 supported"
    yield "node_outputs_over_limit.onnx", serialize(model(
        [helper.make_node("Split", ["x"], ["s%d" % index for index in range(257)],
                          name="split", axis=1)], outputs=[value("s0")])), \
        "node 0 'split' (Split): 257 outputs, at most 256 supported"
    yield "graph_inputs_over_limit.onnx", serialize(model(
        [helper.make_node("Relu", ["x0"], ["y"], name="relu")],
        inputs=[value("x%d" % index, FLOAT, [1]) for index in range(257)])), \
        "the graph has 257 inputs (initializers aside), at most 256 supported"
    yield "graph_outputs_over_limit.onnx", serialize(model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        outputs=[value("y")] * 257)), "the graph has 257 outputs, at most 256 supported"
    # Subgraphs nested 3000 deep (about 70 kB): protobuf-c's decoder
    # recursed once per level and ran out of stack
    yield "deep_subgraphs.onnx", deep_subgraphs(3000), \
        "subgraphs nested 65 deep in node attributes"
    yield "constant_of_shape_huge.onnx", serialize(model(
        [helper.make_node("ConstantOfShape", ["s"], ["y"], name="fill",
                          value=array("v", np.array([1], np.float32)))], inputs=[],
        initializers=[array("s", np.array([65536, 65536], np.int64))])), "'fill'"


#   Legal models near a limit: file name, model, inputs, expected outputs
def legal_cases():
    rng = np.random.default_rng(14)
    x = rng.standard_normal([1, 4]).astype(np.float32)
    # More outputs than the 8 a fixed array held (zinfer run --repeat
    # wrote past it), and exactly as many as zinfer allows
    for count, name in ((12, "many_outputs.onnx"), (256, "outputs_at_limit.onnx")):
        nodes = [helper.make_node("Neg" if index % 2 else "Relu", ["x"], ["y%d" % index],
                                  name="node%d" % index) for index in range(count)]
        outputs = {"y%d" % index: -x if index % 2 else np.maximum(x, 0)
                   for index in range(count)}
        yield name, model(nodes, inputs=[value("x", FLOAT, [1, 4])],
                          outputs=[value(output) for output in outputs]), {"x": x}, outputs
    # Inputs that also have an initializer, as IR version 3 lists every
    # weight: the initializer is used, and the model needs no input
    w = np.arange(4, dtype=np.float32).reshape(1, 4)
    old = model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                inputs=[value("x", FLOAT, [1, 4]), value("w", FLOAT, [1, 4])],
                initializers=[array("w", w)], opset=9)
    old.ir_version = 3
    yield "initializer_input.onnx", old, {"x": x}, {"y": x + w}
    only = model([helper.make_node("Relu", ["w"], ["y"], name="relu")],
                 inputs=[value("w", FLOAT, [1, 4])], initializers=[array("w", w - 1)], opset=9)
    only.ir_version = 3
    yield "initializer_input_only.onnx", only, {}, {"y": np.maximum(w - 1, 0)}


#   Cases larger than the 20 kB the others stay under
LARGE = {"deep_subgraphs.onnx"}


def main():
    expectations = []
    for name, data, expected in cases():
        assert len(data) < (200000 if name in LARGE else 20000), name
        with open(os.path.join(HERE, name), "wb") as handle:
            handle.write(data)
        expectations.append("%s\t%s\n" % (name, expected))
    for name, proto, feeds, outputs in legal_cases():
        with open(os.path.join(HERE, name), "wb") as handle:
            handle.write(serialize(proto))
        arrays = {"input_" + key: array for key, array in feeds.items()}
        arrays.update({"output_" + key: array for key, array in outputs.items()})
        np.savez(os.path.join(HERE, name[: -len(".onnx")] + ".npz"), **arrays)
        expectations.append("%s\t(runs)\n" % name)
    with open(os.path.join(HERE, "expect.txt"), "w") as handle:
        handle.write("# FILE<TAB>part of the one error line `zinfer info FILE` prints,\n"
                     "# or (runs): legal; `zinfer run` gives the outputs in FILE.npz\n")
        handle.writelines(expectations)
    print("%d malformed models written to %s" % (len(expectations), HERE), file=sys.stderr)


if __name__ == "__main__":
    main()
