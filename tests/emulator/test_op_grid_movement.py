"""Data-movement ops against the real TFLM: resizes, splits, slices, gathers, pads, block moves, arg-max.

Each case is a tiny Keras model around one op (``tf.image.resize``, ``tf.split``,
``tf.gather``, ...), converted by the TF converter as full int8, as 16x8 (int16
activations) where the converter quantizes the op so, or left float32; each
type is one TFLM accepts for the op. Every case runs 16 random inputs spanning
the input type's whole range through the emulator and through TFLM (the
tflite-micro wheel), and must agree byte for byte; the host arena estimate must
equal what TFLM's recording allocator reports for the same model. The converter
may rewrite an op away (EXPAND_DIMS becomes RESHAPE with a fixed batch), so each
case also checks that the model really holds the op, with the options it is
named after. Types TFLM refuses (int16 RESIZE_BILINEAR, GATHER, MIRROR_PAD; an
int64 ARG_MAX; TILE, which TFLM has no kernel for) are refused by the emulator
with TFLM's reason, and TFLM is shown to refuse them too.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.ops import OPS
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference
from tests.corpus_models import corpus_params
from tests.helpers import assert_bit_exact_with_tflm, keras_model_tflite

SAMPLES = 16
MY_OPS = ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPLIT", "SPLIT_V", "UNPACK", "SLICE", "EXPAND_DIMS",
          "GATHER", "MIRROR_PAD", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "ARG_MAX", "ARG_MIN")


def _tf():
    import tensorflow as tf

    return tf


@dataclass(frozen=True)
class Case:
    shape: tuple[int, ...]
    body: object  # (tf, x) -> output tensor, inside a Lambda layer
    opcode: str
    options: dict = field(default_factory=dict)  # the op's options the case is named after
    fixed_batch: bool = True  # False: a dynamic batch (keeps EXPAND_DIMS from becoming RESHAPE)

    def build(self):
        from jsqat_embed.training import zoo

        k = zoo.keras()
        inputs = k.Input(self.shape, batch_size=1 if self.fixed_batch else None)
        return k.Model(inputs, k.layers.Lambda(lambda x: self.body(_tf(), x))(inputs))


def _resize(size, method, align_corners=False, half_pixel=None):
    """tf.image.resize gives half-pixel centers; the v1 functions give align_corners or neither."""
    def body(tf, x):
        if half_pixel:
            return tf.image.resize(x, size, method)
        v1 = tf.compat.v1.image
        resize = v1.resize_bilinear if method == "bilinear" else v1.resize_nearest_neighbor
        return resize(x, size, align_corners=align_corners)

    return body


def _resize_options(align_corners, half_pixel):
    return {"align_corners": align_corners, "half_pixel_centers": bool(half_pixel)}


RESIZES = {
    # name: (input shape, output size, align_corners, half_pixel_centers)
    "up-half": ((5, 6, 3), (9, 13), False, True),
    "up-align": ((5, 6, 3), (9, 13), True, False),
    "up-plain": ((5, 6, 3), (9, 13), False, False),
    "up2x-half": ((4, 5, 2), (8, 10), False, True),
    "down-half": ((9, 13, 3), (4, 5), False, True),
    "down-align": ((9, 13, 3), (4, 5), True, False),
    "to-row-align": ((5, 6, 2), (1, 7), True, False),
}

CASES: dict[str, tuple[Case, str]] = {}
for _name, (_shape, _size, _align, _half) in RESIZES.items():
    for _method, _opcode, _types in (("bilinear", "RESIZE_BILINEAR", ("int8", "float32")),
                                     ("nearest", "RESIZE_NEAREST_NEIGHBOR", ("int8", "int16", "float32"))):
        for _activations in _types:
            CASES[f"{_method}-{_name}-{_activations}"] = (
                Case(_shape, _resize(_size, _method, _align, _half), _opcode, _resize_options(_align, _half)),
                _activations)


def _split(count_or_sizes, axis):
    # the parts are joined again in reverse order, so every part is used and moved
    return lambda tf, x: tf.concat(tf.split(x, count_or_sizes, axis=axis)[::-1], axis=axis)


def _unstack(axis, join_axis):
    return lambda tf, x: tf.concat(tf.unstack(x, axis=axis)[::-1], axis=join_axis)  # reversed: not foldable


def _gather(indices, axis):
    return lambda tf, x: tf.gather(x, indices, axis=axis)


def _gather_along_argmax(tf, x):
    # positions computed in the model (ARG_MAX), batch_dims = 3: take_along_axis
    return tf.gather(x, tf.argmax(x, -1, output_type=tf.int32), axis=3, batch_dims=3)


def _gather_table(tf, x):
    # a constant table indexed by computed positions (an embedding lookup)
    table = tf.constant([[0.5, -1.0, 0.25], [1.0, 0.0, -0.5], [0.1, 0.2, 0.3], [-0.7, 0.9, 0.4], [0.0, 0.6, -0.2]])
    return tf.gather(table, tf.argmax(x, -1, output_type=tf.int32))


_MOVES = {
    # name: (case, activation types)
    "split-channels": (Case((4, 4, 6), _split(3, -1), "SPLIT", {"num_splits": 3}), ("int8", "int16", "float32")),
    "split-rows": (Case((6, 4, 3), _split(2, 1), "SPLIT", {"num_splits": 2}), ("int8",)),
    "split-v-channels": (Case((4, 4, 6), _split([1, 2, 3], -1), "SPLIT_V", {"num_splits": 3}),
                         ("int8", "int16", "float32")),
    "split-v-columns": (Case((4, 5, 3), _split([4, 1], 2), "SPLIT_V", {"num_splits": 2}), ("int8",)),
    "unpack-rows": (Case((4, 5, 6), _unstack(1, -1), "UNPACK", {"num": 4, "axis": 1}), ("int8", "int16", "float32")),
    "unpack-channels": (Case((4, 5, 3), _unstack(-1, 1), "UNPACK", {"num": 3, "axis": -1}), ("int8",)),
    "slice": (Case((4, 5, 6), lambda tf, x: tf.slice(x, [0, 1, 0, 2], [1, 2, 3, 3]), "SLICE"),
              ("int8", "int16", "float32")),
    "slice-to-end": (Case((4, 5, 6), lambda tf, x: tf.slice(x, [0, 2, 1, 0], [-1, -1, 3, 4]), "SLICE"), ("int8",)),
    "expand-dims": (Case((4, 5, 3), lambda tf, x: tf.expand_dims(x, 2), "EXPAND_DIMS", fixed_batch=False),
                    ("int8", "int16", "float32")),
    "expand-dims-last": (Case((6,), lambda tf, x: tf.expand_dims(x, -1), "EXPAND_DIMS", fixed_batch=False),
                         ("int8",)),
    "gather-channels": (Case((4, 4, 6), _gather([3, 0, 0, 5], 3), "GATHER", {"axis": 3, "batch_dims": 0}),
                        ("int8", "float32")),
    "gather-rows": (Case((5, 4, 3), _gather([[4, 1], [0, 0], [2, 3]], 1), "GATHER", {"axis": 1, "batch_dims": 0}),
                    ("int8",)),
    "gather-argmax": (Case((4, 4, 6), _gather_along_argmax, "GATHER", {"axis": 3, "batch_dims": 3}),
                      ("int8", "float32")),
    "gather-table": (Case((4, 4, 5), _gather_table, "GATHER", {"axis": 0, "batch_dims": 0}), ("int8",)),
    "mirror-pad-reflect": (Case((4, 5, 3), lambda tf, x: tf.pad(x, [[0, 0], [1, 2], [3, 0], [0, 0]], "REFLECT"),
                                "MIRROR_PAD", {"mode": "REFLECT"}), ("int8", "float32")),
    "mirror-pad-symmetric": (Case((4, 5, 3), lambda tf, x: tf.pad(x, [[0, 0], [2, 4], [5, 1], [1, 1]], "SYMMETRIC"),
                                  "MIRROR_PAD", {"mode": "SYMMETRIC"}), ("int8", "float32")),
    "depth-to-space-2": (Case((3, 4, 8), lambda tf, x: tf.nn.depth_to_space(x, 2), "DEPTH_TO_SPACE",
                              {"block_size": 2}), ("int8", "float32")),
    "depth-to-space-3": (Case((2, 3, 18), lambda tf, x: tf.nn.depth_to_space(x, 3), "DEPTH_TO_SPACE",
                              {"block_size": 3}), ("int8",)),
    "space-to-depth-2": (Case((4, 6, 3), lambda tf, x: tf.nn.space_to_depth(x, 2), "SPACE_TO_DEPTH",
                              {"block_size": 2}), ("int8", "float32")),
    "space-to-depth-3": (Case((6, 3, 2), lambda tf, x: tf.nn.space_to_depth(x, 3), "SPACE_TO_DEPTH",
                              {"block_size": 3}), ("int8",)),
    "arg-max-channels": (Case((4, 4, 6), lambda tf, x: tf.argmax(x, -1, output_type=tf.int32), "ARG_MAX"),
                         ("int8", "float32")),
    "arg-max-rows": (Case((5, 4, 3), lambda tf, x: tf.argmax(x, 1, output_type=tf.int32), "ARG_MAX"), ("int8",)),
    "arg-min-channels": (Case((4, 4, 6), lambda tf, x: tf.argmin(x, -1, output_type=tf.int32), "ARG_MIN"),
                         ("int8", "float32")),
}
for _name, (_case, _types) in _MOVES.items():
    for _activations in _types:
        CASES[f"{_name}-{_activations}"] = (_case, _activations)


def _path(name: str) -> Path:
    case, activations = CASES[name]
    # no weights: nothing to train; the converter calibrates on random inputs in [-1, 1]
    return keras_model_tflite(f"grid-move-{name}-v2", case.build, steps=0, io_dtype=activations,
                              activations=activations)


def _assert_exact(path: Path, seed: int) -> None:
    reference = assert_bit_exact_with_tflm(path, samples=SAMPLES, seed=seed)
    assert reference.allocations, "the interpreter printed no allocation figures"
    estimate = estimate_arena(read_model(path), HOST, "reference", recording_allocator=True,
                              tflm_version=HOST_TFLM_VERSION)
    assert (estimate.head, estimate.tail, estimate.total) == (
        reference.allocations["head"], reference.allocations["tail"], reference.allocations["total"])


@pytest.mark.parametrize("name", list(CASES))
def test_op_bit_exact_and_arena_exact(name):
    case, activations = CASES[name]
    path = _path(name)
    found = [op for op in read_model(path).operators if op.opcode == case.opcode]
    assert found, f"the converter emitted no {case.opcode}: {[op.opcode for op in read_model(path).operators]}"
    op = found[0]
    data = op.input(1 if case.opcode == "SPLIT" else 0)
    assert data.dtype == activations
    for key, value in case.options.items():
        assert op.options.get(key) == value, (key, op.options)
    _assert_exact(path, seed=zlib.crc32(name.encode()) % 1000)


def test_grid_covers_every_type_tflm_takes_that_the_converter_makes():
    """Each op is tested for every type its descriptor claims the emulator runs, except those the
    converter cannot make (int16 for ops it refuses to quantize 16x8, int32/bool data)."""
    converter_cannot = {"int32", "bool"}  # no quantized Keras model carries these through a movement op
    unquantizable_16x8 = {"DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "ARG_MAX", "ARG_MIN"}  # "not yet supported"
    covered: dict[str, set[str]] = {}
    for case, activations in CASES.values():
        covered.setdefault(case.opcode, set()).add(activations)
    for opcode in MY_OPS:
        claimed = set(OPS[opcode].dtypes) - converter_cannot
        if opcode in unquantizable_16x8:
            claimed.discard("int16")
        assert claimed <= covered.get(opcode, set()), (opcode, claimed - covered.get(opcode, set()))


REFUSED = {
    # name: (case, activations, TFLM's reason as the emulator words it)
    "bilinear-int16": (Case((5, 6, 3), _resize((9, 13), "bilinear", half_pixel=True), "RESIZE_BILINEAR"), "int16",
                       "input type int16 is not supported by TFLM's RESIZE_BILINEAR"),
    "gather-int16": (_MOVES["gather-channels"][0], "int16", "input type int16 is not supported by TFLM's GATHER"),
    "mirror-pad-int16": (_MOVES["mirror-pad-reflect"][0], "int16",
                         "input type int16 is not supported by TFLM's MIRROR_PAD"),
    "arg-max-int64": (Case((4, 4, 6), lambda tf, x: tf.argmax(x, -1), "ARG_MAX"), "int8",
                      "Only int32_t are supported currently"),
    "tile": (Case((4, 4, 3), lambda tf, x: tf.tile(x, [1, 2, 1, 2]), "TILE"), "int8", "TFLM has no kernel for TILE"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_tflm_refuses_the_emulator_refuses_with_tflms_reason(name):
    case, activations, reason = REFUSED[name]
    path = keras_model_tflite(f"grid-move-refused-{name}-v1", case.build, steps=0, io_dtype=activations,
                              activations=activations)
    assert case.opcode in {op.opcode for op in read_model(path).operators}
    with pytest.raises(UnsupportedModelError, match=reason):
        Emulator(path)
    assert not run_reference("tflm", path, _inputs_for(path)).ok, "TFLM ran a model the emulator refuses"


def _inputs_for(path: Path):
    """Integer inputs shaped by the model alone (the emulator refuses to load it)."""
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = []
    for tensor in read_model(path).inputs:
        info = np.iinfo(tensor.dtype)
        arrays.append(rng.integers(info.min, info.max, size=tensor.shape, endpoint=True).astype(tensor.dtype))
    return arrays


def test_tile_has_no_descriptor():
    """TFLM has no TILE kernel (no MicroMutableOpResolver method): the op table must not claim one."""
    assert "TILE" not in OPS


def _unet_like():
    """A small segmentation net: encoder, bilinear and nearest upsampling, skip concatenation, per-pixel ARG_MAX."""
    from jsqat_embed.training import zoo

    k = zoo.keras()
    inputs = k.Input((16, 16, 3), batch_size=1)
    skip = k.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = k.layers.MaxPooling2D(2)(skip)
    x = k.layers.Conv2D(12, 3, padding="same", activation="relu")(x)
    deep = k.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = k.layers.Concatenate()([x, k.layers.UpSampling2D(2)(deep)])
    x = k.layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = k.layers.Concatenate()([x, skip])
    logits = k.layers.Conv2D(4, 1)(x)
    return k.Model(inputs, logits)


def _shuffle_like():
    """ShuffleNet-style blocks: channel SPLIT, a branch, concatenation, then a SPLIT_V head with a SLICE."""
    from jsqat_embed.training import zoo

    k = zoo.keras()
    tf = _tf()
    inputs = k.Input((12, 12, 4), batch_size=1)
    x = k.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    left, right = k.layers.Lambda(lambda t: tf.split(t, 2, axis=-1))(x)
    right = k.layers.Conv2D(4, 1, activation="relu")(right)
    right = k.layers.DepthwiseConv2D(3, padding="same")(right)
    x = k.layers.Concatenate()([right, left])
    a, b = k.layers.Lambda(lambda t: tf.split(t, [3, 5], axis=-1))(x)
    b = k.layers.Lambda(lambda t: tf.slice(t, [0, 1, 1, 0], [-1, 4, 4, 5]))(b)
    a = k.layers.Lambda(lambda t: tf.nn.space_to_depth(t, 2))(a)
    b = k.layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT"))(b)
    y = k.layers.Concatenate()([k.layers.Conv2D(6, 1)(a), k.layers.Conv2D(6, 3, strides=2, padding="same")(b)])
    return k.Model(inputs, k.layers.Dense(5)(k.layers.Flatten()(y)))


WHOLE = {"unet-like": (_unet_like, {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"}),
         "shuffle-like": (_shuffle_like, {"SPLIT", "SPLIT_V", "SLICE", "SPACE_TO_DEPTH", "MIRROR_PAD"})}


@pytest.mark.parametrize("name", list(WHOLE))
def test_trained_models_using_these_ops_in_context_are_exact(name):
    """Trained int8 models where the ops sit between convolutions with real, differing scales."""
    build, ops = WHOLE[name]
    path = keras_model_tflite(f"grid-move-whole-{name}-v1", build, steps=3)
    assert ops <= {op.opcode for op in read_model(path).operators}
    _assert_exact(path, seed=zlib.crc32(name.encode()) % 1000)


_CORPUS = corpus_params(tflm="runs", where=lambda m: bool(set(m.ops) & set(MY_OPS)))


@pytest.mark.parametrize("model", _CORPUS or [pytest.param(None, marks=pytest.mark.skip(
    reason="no corpus model that TFLM runs uses these ops (the corpus's are uint8 or need a custom op)"))])
def test_corpus_models_with_these_ops_are_bit_exact(model):
    _assert_exact(model.path, seed=zlib.crc32(model.file.encode()) % 1000)

