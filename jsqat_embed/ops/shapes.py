"""Output shapes as TFLM's Prepare computes them, and the load-time check built on them.

A shape rule is ``rule(op) -> [shape or None, ...]``: for each output, the shape TFLM's
kernel computes (or requires) from the inputs' shapes and the options, None where it
does not constrain one. A rule raises :class:`ShapeError` when the inputs themselves are
impossible (a filter of the wrong rank, an input depth the filter depth does not divide,
a bias of the wrong size, a stride of 0). Each op's rule is part of its descriptor
(``ops/table.py``, ``shape=``); an op without one is not checked here (its kernel's own
checks still apply).

:func:`check_model` runs on every model the reader returns, before any kernel or estimate:
required inputs present (``-1`` only where the descriptor says the input is optional),
every rule's shapes equal to the declared ones, and the resource bounds below. Its
refusals are one-line :class:`ModelFormatError`\\ s naming the operator, the tensor and
the mismatch.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.errors import ModelFormatError
from jsqat_embed.graph.model import Model, Operator, Tensor
from jsqat_embed.graph.padding import output_size, padding_before

# Resource bounds (docs/emulator.md, "Limits"). The largest real models we know (tests/corpus,
# models/) stay far below: 5.5 M elements in one activation (DeepLabV3), 31.5 M in all
# activations (DeepLabV3), 2.8 G multiply-accumulates and 29 M elements written per inference
# (DenseNet121 at 224x224).
#: elements of one non-constant tensor (what the emulator allocates per sample)
MAX_TENSOR_ELEMENTS = 1 << 24
#: elements of all non-constant tensors of one subgraph together
MAX_ACTIVATION_ELEMENTS = 1 << 27
#: multiply-accumulates (and pooling taps) of one inference
MAX_MACS = 1 << 35
#: elements all operators write in one inference (elementwise work)
MAX_ELEMENTS_WRITTEN = 1 << 28
#: TFLM keeps convolution and pooling padding in int16 (``PaddingValues``, types.h)
INT16_MAX = (1 << 15) - 1


class ShapeError(Exception):
    """An operator's inputs or options are impossible for TFLM's kernel (message: what and why)."""


# -- helpers ------------------------------------------------------------------------------
def _input(op: Operator, index: int, role: str, ranks: tuple[int, ...] | None = None) -> Tensor:
    tensor = op.input(index)
    if tensor is None:
        raise ShapeError(f"input {index} ({role}) is missing")
    if ranks is not None and len(tensor.shape) not in ranks:
        raise ShapeError(f"{role} {tensor.describe()} has rank {len(tensor.shape)}; TFLM's kernel needs "
                         f"{' or '.join(map(str, ranks))}")
    return tensor


def _constant(op: Operator, index: int) -> np.ndarray | None:
    """Input ``index``'s constant values as int64, or None (absent, not constant, not integer)."""
    tensor = op.input(index)
    if tensor is None or tensor.data is None or tensor.data.dtype.kind not in "iu":
        return None
    return tensor.data.astype(np.int64).reshape(-1)


def _at_least_one(op: Operator, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ShapeError(f"{name} {value} (must be at least 1)")


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is outside rank {rank}")
    return axis + rank if axis < 0 else axis


def _spatial(op: Operator, axis: str, size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    padding = op.options.get("padding", "SAME")
    out = output_size(padding, size, filter_size, stride, dilation)
    if out < 1:
        raise ShapeError(f"filter {axis} {filter_size} (dilation {dilation}) does not fit input {axis} {size} "
                         f"with {padding} padding")
    before = padding_before(size, filter_size, stride, dilation, out)
    if before > INT16_MAX:
        # types.h's PaddingValues holds int16_t: TFLM would compute with the padding wrapped (garbage).
        wrapped = (before + (1 << 15)) % (1 << 16) - (1 << 15)
        raise ShapeError(f"{padding} padding of {before} along {axis} (filter {filter_size}, dilation {dilation}) "
                         f"does not fit the int16 TFLM keeps it in; TFLM would compute with {wrapped}")
    return out


def _bias(op: Operator, index: int, channels: int) -> None:
    bias = op.input(index)
    if bias is not None and bias.size != channels:
        raise ShapeError(f"bias {bias.describe()} has {bias.size} values for {channels} output channels")


def _convolved(op: Operator, source, kh: int, kw: int, out_channels: int) -> tuple:
    """``[N, out_h, out_w, Cout]`` of a convolution's window over ``source`` (strides and
    dilations at least 1)."""
    options = op.options
    _at_least_one(op, stride_h=options["stride_h"], stride_w=options["stride_w"],
                  dilation_h_factor=options["dilation_h_factor"], dilation_w_factor=options["dilation_w_factor"])
    return (source.shape[0],
            _spatial(op, "height", source.shape[1], kh, options["stride_h"], options["dilation_h_factor"]),
            _spatial(op, "width", source.shape[2], kw, options["stride_w"], options["dilation_w_factor"]),
            out_channels)


# -- rules --------------------------------------------------------------------------------
def conv_2d(op: Operator) -> list:
    """CONV_2D: 4-D input and filter ``[Cout, kh, kw, Cin/groups]``, input depth a multiple of the
    filter depth, bias of Cout values; output ``[N, out_h, out_w, Cout]`` by ``ComputeOutSize``."""
    source, weights = _input(op, 0, "input", (4,)), _input(op, 1, "filter", (4,))
    out_channels, kh, kw, depth = weights.shape
    if depth == 0 or source.shape[3] < depth or source.shape[3] % depth or out_channels % (source.shape[3] // depth):
        raise ShapeError(f"input depth {source.shape[3]} does not split into groups of the filter depth {depth} "
                         f"for {out_channels} output channels ({weights.describe()})")
    _bias(op, 2, out_channels)
    return [_convolved(op, source, kh, kw, out_channels)]


def depthwise_conv_2d(op: Operator) -> list:
    """DEPTHWISE_CONV_2D: 4-D input and filter ``[1, kh, kw, Cout]``, Cout a multiple of the input
    depth, bias of Cout values; output ``[N, out_h, out_w, Cout]`` by ``ComputeOutSize``."""
    source, weights = _input(op, 0, "input", (4,)), _input(op, 1, "filter", (4,))
    one, kh, kw, out_channels = weights.shape
    if one != 1 or source.shape[3] == 0 or out_channels % source.shape[3]:
        raise ShapeError(f"filter {weights.describe()} does not fit input depth {source.shape[3]} "
                         f"(needs [1, kh, kw, a multiple of it])")
    _bias(op, 2, out_channels)
    return [_convolved(op, source, kh, kw, out_channels)]


def fully_connected(op: Operator) -> list:
    """FULLY_CONNECTED: 2-D weights ``[units, depth]``, input size a multiple of depth, bias of
    ``units`` values; the output's last dimension is ``units`` and it holds one row per input row
    (``[rows, units]``, or the input's shape with ``units`` last under ``keep_num_dims``)."""
    source, weights = _input(op, 0, "input"), _input(op, 1, "weights", (2,))
    units, depth = weights.shape
    if depth == 0 or source.size % depth:
        raise ShapeError(f"input size {source.size} ({source.describe()}) is not a multiple of the weights' "
                         f"depth {depth}")
    _bias(op, 2, units)
    output = op.outputs[0] if op.outputs else None
    rows = source.size // depth
    if output is not None and (not output.shape or output.shape[-1] != units or output.size != rows * units):
        expected = (*source.shape[:-1], units) if op.options.get("keep_num_dims") else (rows, units)
        return [expected]
    return [None]


def transpose_conv(op: Operator) -> list:
    """TRANSPOSE_CONV: inputs (output shape, filter ``[Cout, kh, kw, Cin]``, input ``[N, h, w, Cin]``,
    optional bias of Cout values); the output has the shape input 0 holds, with Cout channels."""
    _input(op, 0, "output shape")
    weights, source = _input(op, 1, "filter", (4,)), _input(op, 2, "input", (4,))
    if weights.shape[3] != source.shape[3]:
        raise ShapeError(f"filter {weights.describe()} takes depth {weights.shape[3]}, input has {source.shape[3]}")
    _bias(op, 3, weights.shape[0])
    _at_least_one(op, stride_h=op.options["stride_h"], stride_w=op.options["stride_w"])
    output = op.outputs[0] if op.outputs else None
    if output is not None and len(output.shape) == 4:
        geometry = (("height", source.shape[1], weights.shape[1], op.options["stride_h"], output.shape[1]),
                    ("width", source.shape[2], weights.shape[2], op.options["stride_w"], output.shape[2]))
        for axis, size, kernel, stride, out in geometry:
            before = max(((size - 1) * stride + kernel - out) // 2, 0)
            if before > INT16_MAX:  # TFLM's ComputePaddingHeightWidth result, kept in int16 PaddingValues
                raise ShapeError(f"stride {stride} along {axis} gives a padding of {before}, beyond the int16 "
                                 f"TFLM keeps it in")
    shape = _constant(op, 0)
    if shape is None:
        return [None]
    if shape.size != 4 or shape[3] != weights.shape[0] or shape[0] != source.shape[0] or (shape < 1).any():
        raise ShapeError(f"output shape {shape.tolist()} does not fit input {list(source.shape)} and "
                         f"filter {list(weights.shape)}")
    return [tuple(int(d) for d in shape)]


def unidirectional_sequence_lstm(op: Operator) -> list:
    """UNIDIRECTIONAL_SEQUENCE_LSTM: 3-D input ``[batch, time, features]`` (``[time, batch, features]``
    when time-major) and a hidden state of rank 2 or more whose second dimension is the number of cells
    S (TFLM's ``CreateLstmSizeInfo`` reads these dimensions unchecked); input weights ``[S, features]``,
    recurrent weights ``[S, S]``, gate biases ``[S]``, hidden and cell states of batch x S elements
    (``ValidateTensorSize``); the output is the input's first two dimensions and S."""
    if len(op.inputs) != 24:
        raise ShapeError(f"{len(op.inputs)} inputs; TFLM's kernel needs 24")
    source = _input(op, 0, "input", (3,))
    hidden = _input(op, 18, "hidden state")
    cell = _input(op, 19, "cell state")
    if len(hidden.shape) < 2:
        raise ShapeError(f"hidden state {hidden.describe()} has rank {len(hidden.shape)}; TFLM reads its "
                         f"second dimension as the number of cells")
    time_major = bool(op.options.get("time_major", False))
    batch = source.shape[1] if time_major else source.shape[0]
    features, cells = source.shape[2], hidden.shape[1]
    expected = {**{index: (cells, features) for index in (1, 2, 3, 4)},
                **{index: (cells, cells) for index in (5, 6, 7, 8)},
                **{index: (cells,) for index in (12, 13, 14, 15)}}
    for index, shape in expected.items():
        tensor = op.input(index)
        if tensor is not None and tuple(tensor.shape) != shape:
            role = "bias" if index >= 12 else "weights"
            raise ShapeError(f"{role} {tensor.describe()} (input {index}) must be {list(shape)} for {cells} cells "
                             f"and {features} input features")
    for role, state in (("hidden state", hidden), ("cell state", cell)):
        if state.size != batch * cells:
            raise ShapeError(f"{role} {state.describe()} holds {state.size} values, not batch {batch} x "
                             f"{cells} cells")
    return [(source.shape[0], source.shape[1], cells)]


def pool_2d(op: Operator) -> list:
    """Pooling: 4-D input, filter and strides at least 1; output ``[N, out_h, out_w, C]`` by
    ``ComputeOutSize``."""
    source = _input(op, 0, "input", (4,))
    options = op.options
    _at_least_one(op, filter_height=options["filter_height"], filter_width=options["filter_width"],
                  stride_h=options["stride_h"], stride_w=options["stride_w"])
    return [(source.shape[0],
             _spatial(op, "height", source.shape[1], options["filter_height"], options["stride_h"]),
             _spatial(op, "width", source.shape[2], options["filter_width"], options["stride_w"]),
             source.shape[3])]


def same_shape(op: Operator) -> list:
    """Elementwise: the output has the input's shape."""
    return [_input(op, 0, "input").shape]


def broadcast(op: Operator) -> list:
    """Elementwise on two inputs: the output has their broadcast shape."""
    first, second = _input(op, 0, "input 0"), _input(op, 1, "input 1")
    try:
        return [tuple(np.broadcast_shapes(first.shape, second.shape))]
    except ValueError:
        raise ShapeError(f"{first.describe()} and {second.describe()} do not broadcast") from None


def same_size(op: Operator) -> list:
    """Reshaping: the output holds as many elements as the input."""
    source = _input(op, 0, "input")
    output = op.outputs[0] if op.outputs else None
    if output is not None and output.size != source.size:
        raise ShapeError(f"output {output.describe()} holds {output.size} elements, input {source.describe()} "
                         f"{source.size}")
    return [None]


def shape_of(op: Operator) -> list:
    """SHAPE: the output is a vector of the input's rank."""
    return [(len(_input(op, 0, "input").shape),)]


def concatenation(op: Operator) -> list:
    """CONCATENATION: inputs of one rank that agree on every dimension except the axis; the
    output's axis dimension is their sum."""
    if not op.inputs:
        raise ShapeError("no inputs")
    tensors = [_input(op, i, f"input {i}") for i in range(len(op.inputs))]
    rank = len(tensors[0].shape)
    axis = _axis(op.options.get("axis", 0), rank)
    shape = list(tensors[0].shape)
    for tensor in tensors[1:]:
        if len(tensor.shape) != rank or any(a != b for i, (a, b) in enumerate(zip(tensor.shape, shape)) if i != axis):
            raise ShapeError(f"{tensor.describe()} does not concatenate with {tensors[0].describe()} on axis {axis}")
        shape[axis] += tensor.shape[axis]
    return [tuple(shape)]


def pad(op: Operator) -> list:
    """PAD, PADV2, MIRROR_PAD: paddings ``[rank, 2]`` of non-negative values; the output is the
    input grown by them."""
    source = _input(op, 0, "input")
    _input(op, 1, "paddings")
    paddings = _constant(op, 1)
    if paddings is None:
        return [None]
    if paddings.size != 2 * len(source.shape) or (paddings < 0).any():
        raise ShapeError(f"paddings {paddings.tolist()} do not fit rank {len(source.shape)}")
    pairs = paddings.reshape(-1, 2)
    return [tuple(int(d + p.sum()) for d, p in zip(source.shape, pairs))]


def reduce(op: Operator) -> list:
    """Reductions (MEAN, SUM, REDUCE_MAX, ...): axes within the input's rank; the output drops them
    (or keeps them as 1 under ``keep_dims``)."""
    source = _input(op, 0, "input")
    _input(op, 1, "axes")
    axes = _constant(op, 1)
    if axes is None:
        return [None]
    rank = len(source.shape)
    reduced = {_axis(int(a), rank) for a in axes}
    if op.options.get("keep_dims"):
        return [tuple(1 if i in reduced else d for i, d in enumerate(source.shape))]
    return [tuple(d for i, d in enumerate(source.shape) if i not in reduced)]


def arg_max(op: Operator) -> list:
    """ARG_MAX/ARG_MIN: one axis within the input's rank; the output drops it."""
    source = _input(op, 0, "input")
    _input(op, 1, "axis")
    axis = _constant(op, 1)
    if axis is None or axis.size != 1:
        return [None]
    dropped = _axis(int(axis[0]), len(source.shape))
    return [tuple(d for i, d in enumerate(source.shape) if i != dropped)]


def transpose(op: Operator) -> list:
    """TRANSPOSE: a permutation of the input's axes; the output is the input's shape permuted."""
    source = _input(op, 0, "input")
    _input(op, 1, "permutation")
    perm = _constant(op, 1)
    if perm is None:
        return [None]
    rank = len(source.shape)
    if sorted(perm.tolist()) != list(range(rank)):
        raise ShapeError(f"permutation {perm.tolist()} is not one of rank {rank}")
    return [tuple(source.shape[i] for i in perm)]


def slice_(op: Operator) -> list:
    """SLICE: begin and size per axis (size -1: to the end) inside the input."""
    source = _input(op, 0, "input")
    _input(op, 1, "begin")
    _input(op, 2, "size")
    begin, size = _constant(op, 1), _constant(op, 2)
    if begin is None or size is None:
        return [None]
    rank = len(source.shape)
    if begin.size != rank or size.size != rank:
        raise ShapeError(f"begin {begin.tolist()} / size {size.tolist()} do not have {rank} entries")
    shape = []
    for dim, start, count in zip(source.shape, begin.tolist(), size.tolist()):
        count = dim - start if count == -1 else count
        if start < 0 or count < 0 or start + count > dim:
            raise ShapeError(f"begin {begin.tolist()} / size {size.tolist()} reach outside {list(source.shape)}")
        shape.append(count)
    return [tuple(shape)]


def strided_slice(op: Operator) -> list:
    """STRIDED_SLICE: begin, end and strides per axis (masks, ``offset``; no stride 0), as
    strided_slice_logic.h's StartForAxis/StopForAxis; shrunk axes are dropped."""
    source = _input(op, 0, "input")
    for index, role in ((1, "begin"), (2, "end"), (3, "strides")):
        _input(op, index, role)
    begin, end, strides = _constant(op, 1), _constant(op, 2), _constant(op, 3)
    options = op.options
    if begin is None or end is None or strides is None or options.get("ellipsis_mask") or options.get("new_axis_mask"):
        return [None]
    rank = len(source.shape)
    if not begin.size == end.size == strides.size == rank:
        raise ShapeError(f"begin/end/strides have {begin.size}/{end.size}/{strides.size} entries for rank {rank}")
    if (strides == 0).any():
        raise ShapeError(f"stride 0 in strides {strides.tolist()}")
    shape = []
    for axis, size in enumerate(source.shape):
        stride, bit = int(strides[axis]), 1 << axis
        if size == 0:
            start = 0
        elif options.get("begin_mask", 0) & bit:
            start = 0 if stride > 0 else size - 1
        else:
            start = int(begin[axis]) + (size if begin[axis] < 0 else 0)
            start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
        if options.get("shrink_axis_mask", 0) & bit:
            continue
        if options.get("end_mask", 0) & bit:
            stop = size if stride > 0 else -1
        else:
            stop = int(end[axis]) + (int(begin[axis]) if options.get("offset") else 0)
            stop += size if stop < 0 else 0
            stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
        shape.append(len(range(start, stop, stride)) if size else 0)
    return [tuple(shape)]


def split(op: Operator) -> list:
    """SPLIT: the axis (input 0) within the data's rank, its dimension a multiple of the number of
    outputs; each output is the data with that dimension divided."""
    _input(op, 0, "axis")
    source = _input(op, 1, "data")
    axis = _constant(op, 0)
    if axis is None or axis.size != 1 or not op.outputs:
        return [None] * len(op.outputs)
    axis_index = _axis(int(axis[0]), len(source.shape))
    count = len(op.outputs)
    if source.shape[axis_index] % count:
        raise ShapeError(f"dimension {axis_index} of {source.describe()} does not split into {count} outputs")
    shape = list(source.shape)
    shape[axis_index] //= count
    return [tuple(shape)] * count


def split_v(op: Operator) -> list:
    """SPLIT_V: sizes (input 1, at most one -1) that add up to the axis' dimension."""
    source = _input(op, 0, "data")
    _input(op, 1, "sizes")
    _input(op, 2, "axis")
    sizes, axis = _constant(op, 1), _constant(op, 2)
    if sizes is None or axis is None or axis.size != 1:
        return [None] * len(op.outputs)
    axis_index = _axis(int(axis[0]), len(source.shape))
    dim, sizes = source.shape[axis_index], sizes.tolist()
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = dim - sum(s for s in sizes if s != -1)
    if len(sizes) != len(op.outputs) or any(s < 0 for s in sizes) or sum(sizes) != dim:
        raise ShapeError(f"sizes {sizes} do not split dimension {dim} into {len(op.outputs)} outputs")
    shapes = []
    for size in sizes:
        shape = list(source.shape)
        shape[axis_index] = size
        shapes.append(tuple(shape))
    return shapes


def pack(op: Operator) -> list:
    """PACK: inputs of one shape; the output stacks them along a new axis."""
    if not op.inputs:
        raise ShapeError("no inputs")
    tensors = [_input(op, i, f"input {i}") for i in range(len(op.inputs))]
    for tensor in tensors[1:]:
        if tensor.shape != tensors[0].shape:
            raise ShapeError(f"{tensor.describe()} and {tensors[0].describe()} differ in shape")
    shape = list(tensors[0].shape)
    shape.insert(_axis(op.options.get("axis", 0), len(shape) + 1), len(tensors))
    return [tuple(shape)]


def unpack(op: Operator) -> list:
    """UNPACK: one output per slice along the axis, each the input without that axis."""
    source = _input(op, 0, "input")
    axis = _axis(op.options.get("axis", 0), len(source.shape))
    if len(op.outputs) > source.shape[axis]:
        raise ShapeError(f"{len(op.outputs)} outputs from dimension {source.shape[axis]} of {source.describe()}")
    return [tuple(d for i, d in enumerate(source.shape) if i != axis)] * len(op.outputs)


def space_to_depth(op: Operator) -> list:
    """SPACE_TO_DEPTH: 4-D input whose height and width are multiples of the block size."""
    source = _input(op, 0, "input", (4,))
    block = op.options.get("block_size", 0)
    _at_least_one(op, block_size=block)
    n, h, w, c = source.shape
    if h % block or w % block:
        raise ShapeError(f"{source.describe()}: height and width are not multiples of block size {block}")
    return [(n, h // block, w // block, c * block * block)]


def depth_to_space(op: Operator) -> list:
    """DEPTH_TO_SPACE: 4-D input whose depth is a multiple of the block size squared."""
    source = _input(op, 0, "input", (4,))
    block = op.options.get("block_size", 0)
    _at_least_one(op, block_size=block)
    n, h, w, c = source.shape
    if c % (block * block):
        raise ShapeError(f"{source.describe()}: depth is not a multiple of block size {block} squared")
    return [(n, h * block, w * block, c // (block * block))]


def resize(op: Operator) -> list:
    """RESIZE_BILINEAR/NEAREST_NEIGHBOR: 4-D input and a size (input 1) of two positive values."""
    source = _input(op, 0, "input", (4,))
    _input(op, 1, "size")
    size = _constant(op, 1)
    if size is None:
        return [None]
    if size.size != 2 or (size < 1).any():
        raise ShapeError(f"size {size.tolist()} is not two positive values")
    return [(source.shape[0], int(size[0]), int(size[1]), source.shape[3])]


def gather(op: Operator) -> list:
    """GATHER: the output is the params' shape with the axis replaced by the positions' shape
    (after ``batch_dims``)."""
    params, positions = _input(op, 0, "params"), _input(op, 1, "positions")
    axis = _axis(op.options.get("axis", 0), len(params.shape))
    batch_dims = op.options.get("batch_dims", 0)
    batch_dims += len(positions.shape) if batch_dims < 0 else 0
    if not 0 <= batch_dims <= min(axis, len(positions.shape)):
        raise ShapeError(f"batch_dims {op.options.get('batch_dims')} does not fit axis {axis} and "
                         f"{positions.describe()}")
    return [(*params.shape[:axis], *positions.shape[batch_dims:], *params.shape[axis + 1:])]


def _block_and_margins(op: Operator, margins: str) -> tuple:
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND: the 3-D or 4-D input, the block shape and the
    paddings or crops (``margins``); (input, None, None) when the last two are not constant.
    A block of a size per spatial dimension, each at least 1, and two margins per spatial
    dimension, none negative."""
    source = _input(op, 0, "input", (3, 4))
    _input(op, 1, "block shape")
    _input(op, 2, margins)
    block, edges = _constant(op, 1), _constant(op, 2)
    if block is None or edges is None:
        return source, None, None
    spatial = len(source.shape) - 2
    if block.size != spatial or edges.size != 2 * spatial or (block < 1).any() or (edges < 0).any():
        raise ShapeError(f"block shape {block.tolist()} / {margins} {edges.tolist()} do not fit {source.describe()}")
    return source, block, edges


def space_to_batch_nd(op: Operator) -> list:
    """SPACE_TO_BATCH_ND: padded spatial dimensions divisible by the block shape; the batch grows
    by the block's product."""
    source, block, paddings = _block_and_margins(op, "paddings")
    if block is None:
        return [None]
    shape = [source.shape[0] * int(np.prod(block))]
    for i, (step, (before, after)) in enumerate(zip(block.tolist(), paddings.reshape(-1, 2).tolist())):
        padded = source.shape[1 + i] + before + after
        if padded % step:
            raise ShapeError(f"padded dimension {padded} is not a multiple of block {step}")
        shape.append(padded // step)
    return [(*shape, source.shape[-1])]


def batch_to_space_nd(op: Operator) -> list:
    """BATCH_TO_SPACE_ND: the batch a multiple of the block shape's product; spatial dimensions
    grow by the block, less the crops."""
    source, block, crops = _block_and_margins(op, "crops")
    if block is None:
        return [None]
    product = int(np.prod(block))
    if source.shape[0] % product:
        raise ShapeError(f"batch {source.shape[0]} is not a multiple of the block size {product}")
    shape = [source.shape[0] // product]
    for i, (step, (before, after)) in enumerate(zip(block.tolist(), crops.reshape(-1, 2).tolist())):
        grown = source.shape[1 + i] * step - before - after
        if grown < 0:
            raise ShapeError(f"crops {crops.tolist()} exceed dimension {source.shape[1 + i] * step}")
        shape.append(grown)
    return [(*shape, source.shape[-1])]


# -- the model check ------------------------------------------------------------------------
def work(op: Operator) -> int:
    """Multiply-accumulates of one inference of ``op``, or taps for pooling (0 if neither)."""
    from jsqat_embed.graph.analysis import count_macs

    if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D") and op.outputs:
        source = op.input(0)
        height, width = (source.shape[1:3] if source is not None and len(source.shape) == 4 else (1, 1))
        taps = min(op.options.get("filter_height", 1), height) * min(op.options.get("filter_width", 1), width)
        return op.outputs[0].size * max(taps, 1)
    return count_macs(op)


def check_operator(op: Operator) -> None:
    """Refuse ``op`` (ModelFormatError, one line) if a required input is omitted or its declared
    output shapes disagree with what TFLM's Prepare computes."""
    from jsqat_embed.ops.table import OPS

    found = OPS.get(op.opcode)
    if found is None:
        return
    if found.operand_counts is not None:
        for role, count, allowed in (("input", len(op.inputs), found.operand_counts[0]),
                                     ("output", len(op.outputs), found.operand_counts[1])):
            if count not in allowed:
                raise ModelFormatError(f"{op.describe()}: {count} {role}(s); TFLM's {op.opcode} refuses the model "
                                       f"unless it has {' or '.join(map(str, allowed))}")
    for index, tensor in enumerate(op.inputs):
        if tensor is None and index not in found.optional_inputs:
            raise ModelFormatError(f"{op.describe()}: input {index} is -1 (omitted), but TFLM's {op.opcode} "
                                   f"requires it")
    if found.shape is None:
        return
    try:
        expected = found.shape(op)
    except ShapeError as exc:
        raise ModelFormatError(f"{op.describe()}: {exc}") from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFormatError(f"{op.describe()}: options or inputs TFLM cannot use ({type(exc).__name__}: "
                               f"{exc})") from None
    if len(op.outputs) < len(expected):
        raise ModelFormatError(f"{op.describe()}: {len(op.outputs)} output(s); TFLM's {op.opcode} writes "
                               f"{len(expected)}")
    for output, shape in zip(op.outputs, expected):
        if shape is not None and tuple(output.shape) != tuple(shape):
            raise ModelFormatError(f"{op.describe()}: output {output.describe()} disagrees with the shape "
                                   f"{list(shape)} TFLM computes from its inputs and options")


def check_model(model: Model) -> None:
    """Every operator of every subgraph passes :func:`check_operator`, and the model stays within
    the resource bounds (``MAX_TENSOR_ELEMENTS``, ``MAX_ACTIVATION_ELEMENTS``, ``MAX_MACS``,
    ``MAX_ELEMENTS_WRITTEN``),
    all checked before anything is allocated or run."""
    for index, subgraph in enumerate(model.subgraphs):
        total = 0
        for tensor in subgraph.tensors:
            if tensor.data is not None:
                continue
            if tensor.size > MAX_TENSOR_ELEMENTS:
                raise ModelFormatError(f"{tensor.describe()}: {tensor.size:,} elements, more than the limit of "
                                       f"{MAX_TENSOR_ELEMENTS:,} for one tensor (docs/emulator.md, Limits)")
            total += tensor.size
        if total > MAX_ACTIVATION_ELEMENTS:
            raise ModelFormatError(f"subgraph {index}: its non-constant tensors hold {total:,} elements together, "
                                   f"more than the limit of {MAX_ACTIVATION_ELEMENTS:,} (docs/emulator.md, Limits)")
        macs = written = 0
        for op in subgraph.operators:
            check_operator(op)
            macs += work(op)
            written += sum(t.size for t in op.outputs)
            if macs > MAX_MACS:
                raise ModelFormatError(f"subgraph {index}: more than {MAX_MACS:,} multiply-accumulates per "
                                       f"inference by {op.describe()}, the limit (docs/emulator.md, Limits)")
            if written > MAX_ELEMENTS_WRITTEN:
                raise ModelFormatError(f"subgraph {index}: more than {MAX_ELEMENTS_WRITTEN:,} elements written per "
                                       f"inference by {op.describe()}, the limit (docs/emulator.md, Limits)")
