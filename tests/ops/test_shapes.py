"""Shape inference at load (jsqat_embed/ops/shapes.py): models whose shapes TFLM's Prepare would not
accept, whose required inputs are -1, or that exceed the resource bounds are refused by the reader
in one line naming the operator, the tensor and the mismatch (issue 14, "Models").

Every model here is a small consistent model built with the project's writer, then broken in one
place; the consistent original must read (the real-model corpus and the op grids check that no real
model is refused: tests/test_corpus.py, tests/emulator/test_op_grid*.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from jsqat_embed.errors import ModelFormatError
from jsqat_embed.ops import OPS, shapes
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model
from tests.op_models import T, op, op_model


def conv_model(filter_shape=(3, 3, 3, 2), output_shape=(1, 4, 4, 3), bias: bool = True, **options) -> bytes:
    x = T("x", (1, 4, 4, 2), "int8", scale=0.05, zero_point=1)
    w = T("w", filter_shape, "int8", scale=[0.02] * filter_shape[0], zero_point=[0] * filter_shape[0],
          data=np.ones(filter_shape, np.int8))
    b = T("b", (3,), "int32", scale=[0.001] * 3, zero_point=[0] * 3, data=np.array([1, 2, 3], np.int32))
    y = T("y", output_shape, "int8", scale=0.1, zero_point=0)
    settings = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1) | options
    return op_model([op("CONV_2D", [x, w, b if bias else None], [y], **settings)])


def pool_model(filter_height: int = 2, padding: str = "VALID", output_shape=(1, 3, 3, 2)) -> bytes:
    x = T("x", (1, 4, 4, 2), "int8", scale=0.05, zero_point=1)
    y = T("y", output_shape, "int8", scale=0.05, zero_point=1)
    return op_model([op("AVERAGE_POOL_2D", [x], [y], padding=padding, stride_h=1, stride_w=1,
                        filter_height=filter_height, filter_width=2)])


def refused(data: bytes, *fragments: str) -> str:
    with pytest.raises(ModelFormatError) as caught:
        read_model(data)
    message = str(caught.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    return message


def test_the_consistent_models_read():
    for data in (conv_model(), conv_model(bias=False), pool_model(), pool_model(3, "SAME", (1, 4, 4, 2))):
        read_model(data)


def test_minus_one_in_a_required_input_is_refused_but_allowed_where_optional():
    model = read_model(conv_model())
    model.operators[0].inputs[1] = None  # the filter
    refused(write_model(model), "operator 0 (CONV_2D)", "input 1 is -1", "requires it")
    read_model(conv_model(bias=False))  # the bias is optional in TFLM's conv


def test_required_inputs_follow_the_descriptors():
    """TFLM's optional inputs: convolution and dense biases, LSTM's peephole/projection/norm tensors."""
    assert OPS["CONV_2D"].optional_inputs == (2,) and OPS["FULLY_CONNECTED"].optional_inputs == (2,)
    assert OPS["TRANSPOSE_CONV"].optional_inputs == (3,)
    assert OPS["ADD"].optional_inputs == ()
    # the corpus' Keras LSTMs omit 9, 10, 11, 16, 17, 20-23; TFLM also allows 1, 5 and 12 (CIFG)
    assert {9, 10, 11, 16, 17, 20, 21, 22, 23, 1, 5, 12} == set(OPS["UNIDIRECTIONAL_SEQUENCE_LSTM"].optional_inputs)


@pytest.mark.parametrize("filter_shape, fragment", [
    ((3, 2), "filter tensor 1 'w' int8[3, 2] has rank 2; TFLM's kernel needs 4"),
    ((3, 1, 1, 2, 1), "has rank 5"),
    ((3, 1, 1, 4), "input depth 2 does not split into groups of the filter depth 4"),
])
def test_impossible_filters_are_refused(filter_shape, fragment):
    refused(conv_model(filter_shape=filter_shape), "operator 0 (CONV_2D)", fragment)


def test_a_bias_of_the_wrong_size_is_refused():
    refused(conv_model(filter_shape=(2, 1, 1, 2), output_shape=(1, 4, 4, 2)), "bias tensor 2 'b'",
            "has 3 values for 2 output channels")


@pytest.mark.parametrize("output_shape, options", [
    ((1, 2, 2, 3), {}),  # SAME stride 1 keeps 4x4
    ((1, 4, 4, 3), {"padding": "VALID", "dilation_h_factor": 1}),  # VALID 3x3 gives 2x2
    ((1, 4, 4, 4), {}),  # 3 output channels
    ((1, 4, 4, 3), {"stride_h": 2}),  # 2x4
])
def test_an_output_shape_that_disagrees_is_refused(output_shape, options):
    refused(conv_model(output_shape=output_shape, **options), "operator 0 (CONV_2D): output tensor 3 'y'",
            "disagrees with the shape")


def test_a_stride_of_zero_is_refused():
    refused(conv_model(stride_h=0), "stride_h 0 (must be at least 1)")


def test_the_bit_flipped_filter_height_is_refused_before_any_allocation():
    """The reproduction: filter_height 1,048,579 in a VALID pool has no output at all; in a SAME pool
    its padding does not fit the int16 TFLM keeps it in (TFLM would compute with it wrapped)."""
    model = read_model(pool_model())
    model.operators[0].options["filter_height"] = 1_048_579
    refused(write_model(model), "operator 0 (AVERAGE_POOL_2D)", "filter height 1048579", "VALID padding")
    refused(pool_model(1_048_579, "SAME", (1, 4, 4, 2)), "padding of 524289 along height",
            "does not fit the int16", "TFLM would compute with 1")


def test_resource_bounds_are_checked_before_allocating():
    big = shapes.MAX_TENSOR_ELEMENTS
    x = T("x", (1, big + 1), "int8", scale=0.1)
    y = T("y", (1, big + 1), "int8", scale=0.1)
    refused(op_model([op("RELU", [x], [y])]), "tensor 0 'x'", "more than the limit", "docs/emulator.md")
    side = 1 << 11  # 2048x2048x64 input, 3x3x64 filter: 154 G MACs from a 37 KB file
    x = T("x", (1, side, side, 1), "int8", scale=0.1)
    w = T("w", (64, 3, 3, 1), "int8", scale=[0.01] * 64, zero_point=[0] * 64, data=np.ones((64, 3, 3, 1), np.int8))
    h = T("h", (1, side, side, 64), "int8", scale=0.1)
    refused(op_model([op("CONV_2D", [x, w, None], [h], padding="SAME", stride_h=1, stride_w=1)]), "more than the limit")


@pytest.mark.parametrize("opcode, inputs, output, options, fragment", [
    ("ADD", [(1, 4, 3), (1, 1, 3)], (1, 4, 4), {}, "disagrees with the shape [1, 4, 3]"),
    ("ADD", [(1, 4, 3), (1, 2, 3)], (1, 4, 3), {}, "do not broadcast"),
    ("RESHAPE", [(1, 4, 3)], (1, 13), {}, "holds 13 elements"),
    ("CONCATENATION", [(1, 4, 3), (1, 4, 2)], (1, 4, 6), {"axis": -1}, "disagrees with the shape [1, 4, 5]"),
    ("CONCATENATION", [(1, 4, 3), (1, 5, 2)], (1, 4, 5), {"axis": 2}, "does not concatenate"),
    ("SOFTMAX", [(1, 10)], (1, 11), {"beta": 1.0}, "disagrees with the shape [1, 10]"),
    ("MAX_POOL_2D", [(1, 4, 4, 2)], (1, 2, 2, 2),
     {"padding": "SAME", "stride_h": 1, "stride_w": 1, "filter_height": 2, "filter_width": 2}, "[1, 4, 4, 2]"),
])
def test_other_ops_outputs_are_checked(opcode, inputs, output, options, fragment):
    tensors = [T(f"x{i}", shape, "int8", scale=0.1) for i, shape in enumerate(inputs)]
    y = T("y", output, "int8", scale=0.1)
    refused(op_model([op(opcode, tensors, [y], **options)]), f"operator 0 ({opcode})", fragment)


def test_shape_rules_read_constant_operands():
    x = T("x", (1, 4, 3), "int8", scale=0.1)
    paddings = T("p", (3, 2), "int32", data=np.array([[0, 0], [1, 2], [0, 0]], np.int32))
    axes = T("a", (1,), "int32", data=np.array([1], np.int32))
    perm = T("perm", (3,), "int32", data=np.array([0, 2, 1], np.int32))
    read_model(op_model([op("PAD", [x, paddings], [T("y", (1, 7, 3), "int8", scale=0.1)])]))
    refused(op_model([op("PAD", [x, paddings], [T("y", (1, 6, 3), "int8", scale=0.1)])]), "[1, 7, 3]")
    refused(op_model([op("MEAN", [x, axes], [T("y", (1, 4), "int8", scale=0.1)], keep_dims=False)]), "[1, 3]")
    refused(op_model([op("TRANSPOSE", [x, perm], [T("y", (1, 4, 3), "int8", scale=0.1)])]), "[1, 3, 4]")


def test_every_rule_says_its_rule():
    for name, descriptor in OPS.items():
        if descriptor.shape is not None:
            assert descriptor.shape.__doc__ and descriptor.shape.__doc__.strip(), name


def test_a_transpose_conv_stride_whose_padding_overflows_int16_is_refused():
    """Fuzz finding: stride_w 2^31-1 made the emulator ask for a 39 TiB scratch array."""
    shape = T("s", (4,), "int32")
    w = T("w", (2, 3, 3, 2), "int8", scale=[0.02] * 2, zero_point=[0] * 2, data=np.ones((2, 3, 3, 2), np.int8))
    x = T("x", (1, 4, 4, 2), "int8", scale=0.05)
    y = T("y", (1, 9, 9, 2), "int8", scale=0.1)
    read_model(op_model([op("TRANSPOSE_CONV", [shape, w, x], [y], padding="VALID", stride_h=2, stride_w=2)]))
    refused(op_model([op("TRANSPOSE_CONV", [shape, w, x], [y], padding="VALID", stride_h=2, stride_w=2**31 - 1)]),
            "operator 0 (TRANSPOSE_CONV): stride 2147483647 along width", "beyond the int16")


def test_per_channel_scales_on_a_scalar_are_refused():
    """Fuzz finding: an IndexError in the reader."""
    x = T("x", (), "int8", scale=[0.1, 0.2], zero_point=[0, 0])
    y = T("y", (), "int8", scale=0.1)
    refused(op_model([op("RELU", [x], [y])]), "2 per-channel scales do not match quantized dimension 0 of shape []")


def lstm_with(edit) -> bytes:
    """The corpus' int8 Keras LSTM (20 cells, 28 features, batch 1) with ``edit(model, lstm_operator)`` applied."""
    from pathlib import Path

    model = read_model(Path(__file__).parents[1] / "corpus" / "keras_lstm_mnist_ptq.tflite")
    edit(model, next(o for o in model.operators if o.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"))
    return write_model(model)


def _set_shape(index, shape):
    def edit(model, lstm):
        lstm.inputs[index].shape = shape
    return edit


@pytest.mark.parametrize("edit, fragment", [
    (_set_shape(18, (1, 19)), "weights tensor"),  # 19 cells from the hidden state: every weight disagrees
    (_set_shape(19, (1, 21)), "cell state tensor 18 'tfl.pseudo_qconst1' int16[1, 21] holds 21 values, not batch 1 x 20"),
    (_set_shape(18, (20,)), "hidden state tensor 17 'tfl.pseudo_qconst' int8[20] has rank 1"),
    (lambda model, lstm: [setattr(t, "shape", (28, 28)) for t in (model.inputs[0], lstm.inputs[0])],
     "input tensor 16 'tfl.quantize' int8[28, 28] has rank 2; TFLM's kernel needs 3"),
])
def test_an_lstm_whose_sizes_disagree_is_refused_as_tflms_prepare_does(edit, fragment):
    from jsqat_embed.verify.references import run_reference

    data = lstm_with(edit)
    refused(data, "operator 1 (UNIDIRECTIONAL_SEQUENCE_LSTM)", fragment)
    if "rank" not in fragment:  # TFLM reads the missing dimensions out of bounds: no oracle there
        samples = np.zeros((1, 28, 28), np.uint8)
        assert not run_reference("tflm", data, [samples]).ok, "TFLM's Prepare refuses it"


def test_the_lstm_output_shape_follows_the_input_and_the_cells():
    read_model(lstm_with(lambda model, lstm: None))
    refused(lstm_with(lambda model, lstm: setattr(lstm.outputs[0], "shape", (1, 28, 21))),
            "output tensor 24 'tfl.unidirectional_sequence_lstm' int8[1, 28, 21] disagrees with the shape [1, 28, 20]")
