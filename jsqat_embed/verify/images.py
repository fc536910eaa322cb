"""Images -> model input tensors, the one preprocessing shared by ``verify --images``
and the firmware's golden vectors.

Steps, in order (documented in the README):
1. decode with Pillow (PNG, JPEG, TIFF, BMP); palette/alpha/16-bit images become
   8-bit RGB (or L for one-channel models);
2. resize to the model's input height x width with bilinear filtering;
3. map pixels p in [0, 255] to real values with the chosen ``preprocess``:
   ``unit`` p/255, ``symmetric`` p/127.5 - 1 (MobileNet style, the default),
   ``raw`` p, ``caffe`` BGR with the ImageNet means subtracted (VGG19 / ResNet50),
   ``torch`` (p/255 - ImageNet mean) / ImageNet std per RGB channel (DenseNet121);
4. quantize with the input tensor's scale and zero point: q = round(r / scale) + zp,
   rounding half away from zero as TFLM's QUANTIZE does, clamped to the type's range.

Bounds: only regular files are opened (a FIFO named ``x.png`` would block
forever); an image of more than MAX_IMAGE_PIXELS pixels is refused before it
is decoded, except a JPEG, which is decoded at a reduced scale (Pillow's
``draft``) to at most that many; a batch is at most MAX_BATCH_BYTES of real
values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jsqat_embed.errors import InputDataError
from jsqat_embed.graph.model import Tensor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
PREPROCESSING = ("symmetric", "unit", "raw", "caffe", "torch")
_CAFFE_MEANS_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float64)
_TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float64)
_TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float64)
#: larger images are refused before decoding (a JPEG is decoded reduced instead)
MAX_IMAGE_PIXELS = 40_000_000
#: the float64 batch of preprocessed images
MAX_BATCH_BYTES = 1 << 30


def image_files(source: str | Path | list) -> list[Path]:
    """The image files of a folder (recursively, sorted) or an explicit list."""
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    else:
        root = Path(source)
        if not root.exists():
            raise InputDataError(f"{root}: no such file or folder")
        paths = [root] if not root.is_dir() else sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in paths:
        if not path.is_file():
            raise InputDataError(f"{path}: not a regular file (a FIFO, device or folder is not read as an image)")
    if not paths:
        raise InputDataError(f"{source}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return paths


def preprocess_image(path: Path, height: int, width: int, channels: int, preprocess: str) -> np.ndarray:
    """One image as float64 real values, shape (height, width, channels)."""
    from PIL import Image, UnidentifiedImageError

    if preprocess not in PREPROCESSING:
        raise InputDataError(f"unknown preprocessing '{preprocess}' (choose from {', '.join(PREPROCESSING)})")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                if image.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale: never the whole picture
                    scale = int(np.ceil(np.sqrt(image.width * image.height / MAX_IMAGE_PIXELS)))
                    image.draft(image.mode, (max(width, image.width // scale), max(height, image.height // scale)))
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise InputDataError(f"{path}: {image.width}x{image.height} pixels; images of more than "
                                         f"{MAX_IMAGE_PIXELS:,} pixels are refused (scale it down first)")
            image.load()
            mode = "L" if channels == 1 else "RGB"
            if image.mode in ("I;16", "I;16B", "I"):
                image = image.point(lambda v: v / 256.0).convert("L")
            image = image.convert(mode).resize((width, height), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.float64)
    except Image.DecompressionBombError as exc:
        raise InputDataError(f"{path}: refused as a decompression bomb ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read image ({exc})") from exc
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] != channels:
        raise InputDataError(f"{path}: model expects {channels} channels")
    if preprocess == "unit":
        return pixels / 255.0
    if preprocess == "symmetric":
        return pixels / 127.5 - 1.0
    if preprocess == "caffe":
        if channels != 3:
            raise InputDataError("caffe preprocessing needs a 3-channel model input")
        return pixels[:, :, ::-1] - _CAFFE_MEANS_BGR
    if preprocess == "torch":
        if channels != 3:
            raise InputDataError("torch preprocessing needs a 3-channel model input")
        return (pixels / 255.0 - _TORCH_MEAN_RGB) / _TORCH_STD_RGB
    return pixels


def quantize_real(values: np.ndarray, tensor: Tensor) -> np.ndarray:
    """Real values -> the input tensor's type with its scale and zero point."""
    if tensor.dtype in ("float32", "float16"):
        return values.astype(tensor.dtype)
    if tensor.quantization is None:
        raise InputDataError(f"{tensor.describe()}: integer input without quantization parameters")
    from jsqat_embed.emulator.fixedpoint import round_half_away_from_zero

    rounded = round_half_away_from_zero(values / tensor.scale)
    info = np.iinfo(tensor.dtype)
    return np.clip(rounded + tensor.zero_point, info.min, info.max).astype(tensor.dtype)


def load_images(source, input_tensor: Tensor, preprocess: str = "symmetric") -> tuple[np.ndarray, list[Path]]:
    """A batch for ``input_tensor`` (NHWC) from image files, and the files in batch order."""
    shape = input_tensor.shape
    if len(shape) != 4:
        raise InputDataError(f"{input_tensor.describe()}: image input must be NHWC, got shape {list(shape)}")
    _, height, width, channels = shape
    paths = image_files(source)
    image_bytes = max(1, height * width * channels) * 8
    if len(paths) * image_bytes > MAX_BATCH_BYTES:
        raise InputDataError(f"{source}: {len(paths):,} images of {height}x{width}x{channels} need more than "
                             f"{MAX_BATCH_BYTES:,} bytes; give at most {MAX_BATCH_BYTES // image_bytes:,}")
    batch = np.stack([preprocess_image(p, height, width, channels, preprocess) for p in paths])
    return quantize_real(batch, input_tensor), paths
