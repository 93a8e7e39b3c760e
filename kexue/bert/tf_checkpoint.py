r"""TensorFlow checkpoints without TensorFlow: a reader of the "V2" tensor bundle that TF1's
`tf.train.Saver` and TF2's `tf.train.Checkpoint` write (model.ckpt.index + model.ckpt.data-*),
so that Google's and bojone's BERT / ALBERT / ELECTRA checkpoints load with numpy alone; and the
matching minimal writer, which exists for the tests (they build tiny TF-format checkpoints).

Article:  用ALBERT和ELECTRA之前，请确认你真的了解它们 — 苏剑林, 2020-10-29 (the released
          checkpoints it discusses are TF checkpoints; bert4keras loads them with TensorFlow)
URL:      https://kexue.fm/archives/7846

Format (TF's tensorflow/core/util/tensor_bundle, on top of its leveldb-style `table`)::

    PREFIX.index   an SSTable: data blocks | metaindex block | index block | footer (48 bytes)
      footer  = BlockHandle(metaindex) BlockHandle(index), zero-padded to 40 bytes,
                magic 0xdb4775248b80fb57 (fixed64 little-endian);  BlockHandle = varint64 offset,
                varint64 size
      block   = entries | restarts uint32[k] | k uint32,  then a 5-byte trailer: compression type
                (0 none, 1 snappy) and the masked crc32c of block + type
      entry   = varint32 shared, varint32 non_shared, varint32 value_len, key[shared:], value
                (key = previous key[:shared] + the new bytes: prefix compression)
      the index block maps a separator key ≥ a data block's last key to its BlockHandle
      values: key "" → BundleHeaderProto {1 num_shards, 2 endianness, 3 version};
              key name → BundleEntryProto {1 dtype, 2 shape {2 dim {1 size}}, 3 shard_id,
                                           4 offset, 5 size, 6 crc32c, 7 slices}
    PREFIX.data-SSSSS-of-NNNNN   raw tensor bytes, tensor = data[offset : offset + size]
    masked crc32c:  m = ((c >> 15) | (c << 17)) + 0xa282ead8  (mod 2³²)

Symbols: a "prefix" is the checkpoint path without its .index / .data-* suffix.

Deviations from TensorFlow's reader:
    - the index blocks' checksums are verified, the data's (crc32c per tensor) are not: pure
      Python would take minutes on BERT-base's 400 MB; sizes are checked instead.
    - string tensors (e.g. TF2's object graph) are listed but not decoded; partitioned
      (sliced) variables are refused with an error naming them (Google's BERT checkpoints have
      neither among their weights).
    - TF writes the index uncompressed (checked on TF 2.21's Saver and Checkpoint, even for a
      28 KB block that snappy would shrink); a compressed block is refused with an error.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "TFVariable",
    "find_tf_checkpoint",
    "read_tf_checkpoint",
    "tf_checkpoint_variables",
    "write_tf_checkpoint",
]

MAGIC = 0xDB4775248B80FB57
FOOTER_LEN = 48
# DataType enum of tensorflow/core/framework/types.proto → numpy; 7 (string) and 14 (bfloat16)
# are handled apart
DTYPES = {
    1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
    8: np.complex64, 9: np.int64, 10: np.bool_, 17: np.uint16, 18: np.complex128,
    19: np.float16, 22: np.uint32, 23: np.uint64,
}  # fmt: skip
DT_STRING, DT_BFLOAT16 = 7, 14


@dataclass(frozen=True)
class TFVariable:
    """One BundleEntryProto: where a tensor's bytes are and what they hold."""

    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    sliced: bool


# ----------------------------------------------------------------------------- crc32c
def _crc_table() -> list[int]:
    poly, table = 0x82F63B78, []  # Castagnoli polynomial, reflected
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _crc32c(data: bytes) -> int:
    c, table = 0xFFFFFFFF, _CRC_TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _mask(c: int) -> int:
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ----------------------------------------------------------------------------- wire formats
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def _put_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as int, fixed32 as int,
    length-delimited as bytes (the only wire types BundleEntryProto uses, plus fixed64)."""
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack_from("<Q", buf, i)[0], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = struct.unpack_from("<I", buf, i)[0], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


def _entry(buf: bytes) -> TFVariable:
    dtype = shard = offset = size = 0
    shape: list[int] = []
    sliced = False
    for field, value in _proto_fields(buf):
        if field == 1:
            dtype = int(value)
        elif field == 2:  # TensorShapeProto: repeated Dim dim = 2 {int64 size = 1}
            for f, dim in _proto_fields(bytes(value)):
                if f == 2:
                    shape.append(next((int(v) for g, v in _proto_fields(bytes(dim)) if g == 1), 0))
        elif field == 3:
            shard = int(value)
        elif field == 4:
            offset = int(value)
        elif field == 5:
            size = int(value)
        elif field == 7:
            sliced = True
    return TFVariable(dtype, tuple(shape), shard, offset, size, sliced)


def _block(data: bytes, offset: int, size: int, where: str) -> bytes:
    raw = data[offset : offset + size + 5]
    if len(raw) != size + 5:
        raise ValueError(f"{where}: truncated block at {offset}")
    body, kind, crc = raw[:size], raw[size], struct.unpack("<I", raw[size + 1 :])[0]
    if _mask(_crc32c(body + bytes([kind]))) != crc:
        raise ValueError(f"{where}: checksum mismatch in the block at {offset}")
    if kind != 0:  # 1 = snappy: TF's BundleWriter never compresses (see the module header)
        raise ValueError(f"{where}: compressed index block (type {kind}): not supported")
    return body


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * n_restarts
    i, key = 0, b""
    while i < end:
        shared, i = _varint(block, i)
        fresh, i = _varint(block, i)
        n_value, i = _varint(block, i)
        key = key[:shared] + block[i : i + fresh]
        i += fresh
        yield key, block[i : i + n_value]
        i += n_value


def _read_index(prefix: Path) -> tuple[int, dict[str, TFVariable]]:
    path = Path(f"{prefix}.index")
    data = path.read_bytes()
    if len(data) < FOOTER_LEN or struct.unpack("<Q", data[-8:])[0] != MAGIC:
        raise ValueError(f"{path}: not a TensorFlow checkpoint index (bad magic number)")
    footer = data[-FOOTER_LEN:]
    _, i = _varint(footer, 0)  # the metaindex block: TF leaves it empty
    _, i = _varint(footer, i)
    index_offset, i = _varint(footer, i)
    index_size, _ = _varint(footer, i)
    num_shards, entries = 1, {}
    for _, handle in _block_entries(_block(data, index_offset, index_size, str(path))):
        offset, j = _varint(handle, 0)
        size, _ = _varint(handle, j)
        for key, value in _block_entries(_block(data, offset, size, str(path))):
            if key == b"":  # the header
                fields = dict(_proto_fields(value))
                num_shards = int(fields.get(1, 1))
                if int(fields.get(2, 0)) != 0:
                    raise ValueError(f"{path}: a big-endian checkpoint is not supported")
            else:
                entries[key.decode("utf-8")] = _entry(value)
    return num_shards, entries


def _prefix(path: str | Path) -> Path:
    """Accept the prefix itself, or the path of its .index / .data-* / .meta file."""
    p = Path(path)
    return p.with_name(re.sub(r"\.(index|meta|data-\d{5}-of-\d{5})$", "", p.name))


# ----------------------------------------------------------------------------- public API
def find_tf_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint prefix in `folder`: the one its `checkpoint` file names, else the only
    `*.index` there; None when there is none. Several without a `checkpoint` file: ValueError."""
    folder = Path(folder)
    state = folder / "checkpoint"
    if state.is_file():
        m = re.search(r'^model_checkpoint_path:\s*"(.*)"', state.read_text("utf-8"), re.M)
        if m and Path(folder / f"{Path(m.group(1)).name}.index").is_file():
            return folder / Path(m.group(1)).name  # relative to the folder, wherever written
    found = sorted(folder.glob("*.index"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"{folder}: several checkpoints ({names}); keep one or add a "
                         "`checkpoint` file naming it")  # fmt: skip
    return _prefix(found[0]) if found else None


def tf_checkpoint_variables(prefix: str | Path) -> dict[str, TFVariable]:
    """Every variable of the checkpoint (name → dtype, shape, location), without reading data."""
    return _read_index(_prefix(prefix))[1]


def read_tf_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """{variable name: array} of every numeric variable (string tensors are skipped).

    Args:
        prefix: e.g. `chinese_L-12_H-768_A-12/bert_model.ckpt` (or its .index file).

    Returns:
        Arrays in the checkpoint's dtypes, bfloat16 widened to float32.
    """
    prefix = _prefix(prefix)
    num_shards, entries = _read_index(prefix)
    shards: dict[int, np.memmap] = {}
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if e.dtype == DT_STRING:
            continue
        if e.sliced:
            raise ValueError(f"{prefix}: {name} is a partitioned (sliced) variable: unsupported")
        if e.dtype not in DTYPES and e.dtype != DT_BFLOAT16:
            raise ValueError(f"{prefix}: {name} has an unsupported dtype enum {e.dtype}")
        if e.shard not in shards:
            path = Path(f"{prefix}.data-{e.shard:05d}-of-{num_shards:05d}")
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing (the checkpoint's data shard)")
            shards[e.shard] = np.memmap(path, dtype=np.uint8, mode="r")
        raw = np.asarray(shards[e.shard][e.offset : e.offset + e.size])
        if raw.size != e.size:
            raise ValueError(f"{prefix}: {name} runs past the end of its data shard")
        if e.dtype == DT_BFLOAT16:  # the upper half of a float32
            arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.view(np.dtype(DTYPES[e.dtype]).newbyteorder("<"))
        n = int(np.prod(e.shape, dtype=np.int64))
        if arr.size != n:
            raise ValueError(f"{prefix}: {name} holds {arr.size} values for shape {e.shape}")
        out[name] = arr.reshape(e.shape).astype(arr.dtype.newbyteorder("="), copy=True)
    return out


def write_tf_checkpoint(
    prefix: str | Path, arrays: Mapping[str, np.ndarray], *, entries_per_block: int = 1 << 20
) -> Path:
    """Write `arrays` as a one-shard V2 checkpoint (PREFIX.index, PREFIX.data-00000-of-00001)
    that `read_tf_checkpoint` and TensorFlow's `tf.train.load_checkpoint` read back.

    For the tests: kexue never needs to write TF checkpoints (its runs keep safetensors).
    `entries_per_block` splits the index into several data blocks (TF 2.21 writes one; older
    writers with leveldb's 4 KB blocks wrote several), so that the tests cover both layouts.
    """
    inverse = {np.dtype(v): k for k, v in DTYPES.items()}
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    data, entries = bytearray(), []
    for name in sorted(arrays):  # the table's keys must be sorted (bytewise)
        a = np.asarray(arrays[name])  # not ascontiguousarray: it makes scalars 1-D
        if a.dtype not in inverse:
            raise ValueError(f"{name}: dtype {a.dtype} cannot be written")
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        shape = b"".join(b"\x12" + _put_varint(len(d)) + d
                         for d in (b"\x08" + _put_varint(s) for s in a.shape))  # fmt: skip
        proto = b"\x08" + _put_varint(inverse[a.dtype])
        proto += b"\x12" + _put_varint(len(shape)) + shape
        proto += b"\x20" + _put_varint(len(data)) + b"\x28" + _put_varint(len(raw))
        proto += b"\x35" + struct.pack("<I", _mask(_crc32c(raw)))
        entries.append((name.encode("utf-8"), proto))
        data += raw
    header = b"\x08\x01" + b"\x1a\x02\x08\x01"  # num_shards 1, version {producer 1}
    entries.insert(0, (b"", header))

    def block(items: list[tuple[bytes, bytes]], restart_every: int = 16) -> bytes:
        out, restarts, last = bytearray(), [], b""
        for k, (key, value) in enumerate(items):
            shared = 0
            if k % restart_every == 0:
                restarts.append(len(out))
            else:
                while shared < min(len(key), len(last)) and key[shared] == last[shared]:
                    shared += 1
            out += _put_varint(shared) + _put_varint(len(key) - shared) + _put_varint(len(value))
            out += key[shared:] + value
            last = key
        restarts = restarts or [0]
        return bytes(out + b"".join(struct.pack("<I", r) for r in restarts)
                     + struct.pack("<I", len(restarts)))  # fmt: skip

    index = bytearray()

    def put(body: bytes) -> bytes:  # append a block and its trailer → its BlockHandle
        handle = _put_varint(len(index)) + _put_varint(len(body))
        index.extend(body + b"\x00" + struct.pack("<I", _mask(_crc32c(body + b"\x00"))))
        return handle

    chunks = [
        entries[i : i + entries_per_block] for i in range(0, len(entries), entries_per_block)
    ]
    # index entry: a data block's last key (a valid separator: ≥ its keys, < the next block's)
    handles = [(chunk[-1][0], put(block(chunk))) for chunk in chunks]
    meta_handle = put(block([]))
    index_handle = put(block(handles, restart_every=1))
    footer = (meta_handle + index_handle).ljust(FOOTER_LEN - 8, b"\x00")
    index += footer + struct.pack("<Q", MAGIC)
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    Path(f"{prefix}.index").write_bytes(bytes(index))
    return prefix
