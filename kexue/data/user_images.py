r"""A folder of the user's images as a memory-mapped uint8 array: decoded and resized once.

    image_folder(path, size=64)   every PNG/JPEG/WebP/BMP/GIF below `path` (recursive, sorted),
                                  centre-cropped and resized to size × size, RGB or greyscale,
                                  cached as one uint8 .npy file and memory-mapped: a 30,000-image
                                  folder does not sit in RAM, and the second epoch decodes nothing
    ImageFolder[i]                (image, label): float in [−1, 1] (GANs, VAEs) or uint8 0..255
                                  (flows: dequantise with `dequantize_uint8`, bits/dim on 256
                                  levels); label = index of the first-level subfolder, −1 if none

The articles' crops: CelebA's 178×218 faces are centre-cropped to 108 and resized to 64
(`crop=108, size=64`); CelebA-HQ is resized from 1024 to 128 or 256 (`size=256`). `crop=None`
takes the largest centred square.

Bad input never passes silently. An empty folder, a file that cannot be decoded (truncated,
not an image despite its extension) or an image smaller than the crop is an `InputError` naming
the file (`on_error="stop"`, the default) or is skipped and counted (`on_error="skip"`: see
`ImageFolder.skipped`). Files whose extension is not an image's are ignored and counted
(`ImageFolder.ignored`). Images in another mode (greyscale in an RGB set, palette, alpha) are
converted and counted (`ImageFolder.converted`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kexue.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolder",
    "dequantize_uint8",
    "grid_png",
    "image_folder",
    "load_image",
    "to_unit",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
_CACHE_VERSION = 1


@dataclass
class ImageFolder:
    """Images of a folder as (N, size, size, C) uint8, memory-mapped from the cache file; a
    map-style dataset for `torch.utils.data.DataLoader` (worker processes share the map).

    Attributes:
        pixels: the (N, H, W, C) uint8 array (a read-only memory map).
        labels: (N,) int64, the first-level subfolder's index in `classes` (−1 for files at the
            top level).
        classes: the first-level subfolder names, sorted.
        files: the source file of each image, relative to the folder.
        skipped: (file, reason) of the images left out with on_error="skip".
        ignored: files that are not images by their extension.
        converted: how many images were converted from another mode.
        as_uint8: items as uint8 0..255 (flows) instead of float in [−1, 1].
    """

    pixels: np.ndarray
    labels: np.ndarray
    classes: list[str]
    files: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    converted: int = 0
    as_uint8: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        import torch

        x = torch.from_numpy(np.array(self.pixels[i])).permute(2, 0, 1)  # (C, H, W), a copy
        if not self.as_uint8:
            x = x.float() / 127.5 - 1.0
        return x, int(self.labels[i])

    def summary(self) -> str:
        """One line: how many images, their shape, and what was skipped, ignored or converted."""
        n, h, w, c = self.pixels.shape
        text = f"{n:,} images of {h}×{w}×{c}"
        if self.classes:
            text += f" in {len(self.classes)} classes"
        if self.skipped:
            first = self.skipped[0]
            text += f"; skipped {len(self.skipped)} (e.g. {first[0]}: {first[1]})"
        if self.ignored:
            text += f"; ignored {len(self.ignored)} non-image files (e.g. {self.ignored[0]})"
        if self.converted:
            text += f"; converted {self.converted} from another colour mode"
        return text


def dequantize_uint8(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantisation of 8-bit pixels: (x + u) / 256, u ~ U[0, 1), in [0, 1); a flow's
    log-likelihood on it gives bits/dim on 256 levels."""
    import torch

    u = torch.rand(x.shape, generator=generator, device=x.device)
    return (x.float() + u) / 256.0


def _listing(root: Path) -> tuple[list[Path], list[str]]:
    images, ignored = [], []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        (images if p.suffix.lower() in IMAGE_SUFFIXES else ignored).append(p)
    return images, [str(p.relative_to(root)) for p in ignored]


def _cache_key(root: Path, images: list[Path], size: int, crop: int | None, mode: str) -> str:
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, size, crop, mode]).encode())
    for p in images:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def load_image(path: Path, size: int, crop: int | None, mode: str) -> tuple[np.ndarray, bool]:
    """One image, centre-cropped and resized: (H, W, C) uint8, and whether it was converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            converted = im.mode != mode
            im = im.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot decode ({err})") from None
    w, h = im.size
    side = min(w, h) if crop is None else crop
    if side > min(w, h):
        raise ValueError(f"{w}×{h} is smaller than the {crop}-pixel crop")
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    arr = np.asarray(im, dtype=np.uint8)
    return (arr[..., None] if arr.ndim == 2 else arr), converted


def image_folder(
    path: str | os.PathLike[str],
    size: int = 64,
    *,
    crop: int | None = None,
    mode: str = "RGB",
    cache_dir: str | os.PathLike[str] | None = None,
    on_error: str = "stop",
    as_uint8: bool = False,
    progress: bool = False,
) -> ImageFolder:
    """The images below `path` as an `ImageFolder` (see the module docstring).

    Args:
        size: output side in pixels.
        crop: centre crop side before resizing (None: the largest centred square).
        mode: "RGB" or "L" (greyscale).
        cache_dir: where the decoded uint8 array is kept (default: `path/.kexue-cache`); a
            cache whose listing, sizes, modification times and options match is reused.
        on_error: "stop" (an `InputError` naming the file) or "skip" (left out and counted).
        as_uint8: items as uint8 (flows) instead of float in [−1, 1].
        progress: draw a progress bar while decoding (on stderr).

    Raises:
        InputError: a missing or empty folder, or a bad image with on_error="stop".
    """
    root = Path(path)
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if on_error not in ("stop", "skip"):
        raise ValueError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    if size < 1 or (crop is not None and crop < 1):
        raise ValueError(f"size and crop must be positive, got {size} and {crop}")
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    images, ignored = _listing(root)
    if not images:
        raise InputError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) below it")
    cache = Path(cache_dir) if cache_dir is not None else root / ".kexue-cache"
    key = _cache_key(root, images, size, crop, mode)
    array_path, meta_path = cache / f"{key}.npy", cache / f"{key}.json"
    if not (array_path.exists() and meta_path.exists()):
        _build(root, images, size, crop, mode, on_error, array_path, meta_path, progress)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    pixels = np.load(array_path, mmap_mode="r")
    return ImageFolder(
        pixels=pixels,
        labels=np.asarray(meta["labels"], dtype=np.int64),
        classes=meta["classes"],
        files=meta["files"],
        skipped=[tuple(s) for s in meta["skipped"]],
        ignored=ignored,
        converted=meta["converted"],
        as_uint8=as_uint8,
    )


def _build(root: Path, images: list[Path], size: int, crop: int | None, mode: str,
           on_error: str, array_path: Path, meta_path: Path, progress: bool) -> None:  # fmt: skip
    """Decode every image into a temporary .npy file, then rename it into place.

    Rows are appended with plain buffered writes, not through a memory map: pages written
    through a map count in the process's resident set until the kernel reclaims them, which
    would make a 30,000-image cache at 128 px look like 1.4 GiB of RSS while it is built.
    """
    cache = array_path.parent
    cache.mkdir(parents=True, exist_ok=True)
    channels = 3 if mode == "RGB" else 1
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".npy.tmp")
    from kexue.runs import _umask

    # mkstemp makes the file 0600: give the cache the mode a plain open() would, so that
    # another user (or job) reading the same folder can use it
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)

    def header(rows: int) -> bytes:
        buf = io.BytesIO()
        info = {"descr": "|u1", "fortran_order": False, "shape": (rows, size, size, channels)}
        np.lib.format.write_array_header_1_0(buf, info)
        return buf.getvalue()

    try:
        classes = sorted({p.relative_to(root).parts[0] for p in images
                          if len(p.relative_to(root).parts) > 1})  # fmt: skip
        index = {c: i for i, c in enumerate(classes)}
        files, labels, skipped, converted = [], [], [], 0
        sequence: object = images
        if progress:
            from tqdm import tqdm

            sequence = tqdm(images, desc="decoding images", unit="img")
        n = 0
        with open(tmp, "wb") as f:
            f.write(header(len(images)))
            for p in sequence:  # type: ignore[attr-defined]
                rel = p.relative_to(root)
                try:
                    arr, was_converted = load_image(p, size, crop, mode)
                except ValueError as err:
                    if on_error == "stop":
                        raise InputError(
                            f"{p}: {err} (on_error='skip' leaves such files out)"
                        ) from None
                    skipped.append((str(rel), str(err)))
                    continue
                f.write(np.ascontiguousarray(arr).tobytes())
                n += 1
                converted += was_converted
                files.append(str(rel))
                labels.append(index[rel.parts[0]] if len(rel.parts) > 1 else -1)
            if n == 0:
                raise InputError(f"{root}: none of the {len(images)} image files could be used")
        if n < len(images):  # skipped files: the header must give the rows written
            _rewrite_header(tmp, header(len(images)), header(n))
        meta = {"classes": classes, "files": files, "labels": labels, "skipped": skipped,
                "converted": converted}  # fmt: skip
        from kexue.runs import atomic_write_json

        os.replace(tmp, array_path)
        atomic_write_json(meta_path, meta)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _rewrite_header(path: str, old: bytes, new: bytes) -> None:
    """Put the `new` .npy header in place of `old` (same length: in place; else a copy)."""
    if len(new) == len(old):  # the header's padding to 64 bytes almost always absorbs it
        with open(path, "r+b") as f:
            f.write(new)
        return
    with open(path, "rb") as src, open(path + ".new", "wb") as dst:
        src.seek(len(old))
        dst.write(new)
        while chunk := src.read(1 << 24):
            dst.write(chunk)
    os.replace(path + ".new", path)


def to_unit(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [−1, 1] (float) or 0..255 (uint8) → (N, H, W, C) float in [0, 1]."""
    import torch

    x = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else images
    x = np.asarray(x)
    x = x / 255.0 if x.dtype == np.uint8 or x.max() > 1.5 else (x + 1.0) / 2.0
    return np.clip(np.moveaxis(x, 1, -1), 0.0, 1.0)


def grid_png(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> bytes:
    """A PNG of (N, H, W, C) images in [0, 1] tiled row by row (nrow per row)."""
    import io

    from PIL import Image

    n, h, w, c = images.shape
    nrow = nrow or max(1, int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / nrow))
    canvas = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad, c))
    for i, img in enumerate(images):
        r, k = divmod(i, nrow)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h,
               pad + k * (w + pad) : pad + k * (w + pad) + w] = img  # fmt: skip
    pixels = np.rint(canvas * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if c == 1 else pixels).save(buf, format="PNG")
    return buf.getvalue()
