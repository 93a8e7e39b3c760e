r"""Text corpora too big for RAM, as datasets that read record i by seek: a line-offset index.

Article: 基于CNN和序列标注的对联机器人, 2019-01-14, https://kexue.fm/archives/6270 (its couplet
         set: > 700 k pairs) and 玩转Keras之seq2seq自动生成标题, 2018-09-01,
         https://kexue.fm/archives/5861 (title–text corpora: CSL, LCSTS).
         No equation: record i of a file is the bytes [offset_i, offset_i + size_i).

    couplet_pairs(folder)       in.txt / out.txt, line i ↔ line i → `CoupletPairs`
    title_pairs(path)           a CSL folder (dev.tsv then test.tsv) or one title–text file
                                (TSV or JSONL, `kexue.data.parse_title_line`) → `TitlePairs`
    title_split(path, n_eval)   the title recipes' split (`kexue.data.csl_split_rows`) as views
    line_index(file, kind)      the index of one file: built in one buffered pass, cached
    char_counts(pairs)          character counts of a dataset, in one streaming pass

A dataset is a read-only sequence: `ds[i]` reads one record (two for a couplet) with `os.pread`;
`ds[a:b]`, `ds[index array]` and `CoupletPairs.split()` are views that read nothing; iteration
reads in file order through a buffer. What the recipes need without reading a record is in the
index: `lengths` (characters per couplet half), `buckets` (the split code, CRC-32 of the first
string mod 10, as `kexue.seq.split_couplets`), `lines` (line numbers, for messages).

The index holds a few arrays per record (int64 offset, int32 size and lengths, uint8 bucket:
17 bytes a couplet line), so the text stays on disk: 23 MiB of index for 700 k couplet pairs
(51 MiB of text), 48 MiB for a 1 GiB title TSV (docs/benchmarks_streaming.md). It is built in
one pass over the file (read by `kexue.data.userfiles`: a NUL byte or an overlong line is an
`InputError`, text that is not UTF-8 or a malformed record a `DataFormatError`, each naming
FILE:LINE; exit status 2 from the command line) and saved as `.npz` in `FOLDER/.kexue-cache`
beside the data (hidden: not part of the data's fingerprint), or in a fallback folder (the run
folder) when the data's folder is read-only. The cache is written atomically and keyed by the
file's path, size and modification time: a changed file is indexed again. Files under
`CACHE_MIN_BYTES` are indexed in memory on every open (it takes milliseconds) and leave no
cache file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kexue.data.corpora import (
    DataFormatError,
    _data_path,
    couplet_count_error,
    couplet_half,
    couplet_length_error,
    csl_split_rows,
)
from kexue.data.nlp_formats import parse_title_line, title_format
from kexue.data.userfiles import MAX_LINE_BYTES, _raw_lines

__all__ = [
    "CACHE_MIN_BYTES",
    "CoupletPairs",
    "LineIndex",
    "PairDataset",
    "TitlePairs",
    "char_counts",
    "check_couplet_split",
    "couplet_bucket",
    "writable_folder",
    "couplet_pairs",
    "line_index",
    "title_pairs",
    "title_split",
]

CACHE_MIN_BYTES = 2**20  # smaller files are indexed in memory: faster than reading a cache
CACHE_FOLDER = ".kexue-cache"
_VERSION = 1  # of the index's arrays: a cache of another version is rebuilt
_READ_BUFFER = 2**20  # bytes buffered by a sequential pass (iteration)


def couplet_bucket(first: str) -> int:
    """The couplet split's code of a pair: CRC-32 of its first line mod 10 (0 test,
    1 validation, 2-9 training), the rule of `kexue.seq.split_couplets`."""
    return zlib.crc32(first.encode()) % 10


def check_couplet_split(n: int, sizes: Sequence[int]) -> None:
    """Raise DataFormatError when a part of the couplet split (train, validation, test sizes)
    of `n` pairs is empty."""
    for name, size in zip(("training", "validation", "test"), sizes, strict=True):
        if not size:
            raise DataFormatError(
                f"{n} couplets leave the {name} split empty (the split is 80/10/10 by a hash of "
                f"the first line): give at least a few dozen distinct first lines"
            )


# ----------------------------------------------------------------------------- the index
def _scan(file: Path) -> Iterator[tuple[int, int, int, str]]:
    """(line number from 1, byte offset, byte size, text) of every line of `file`, blank lines
    included, in one buffered pass; a carriage return before the line feed is dropped."""
    offset = 0
    with open(file, "rb") as handle:
        for number, raw in enumerate(_raw_lines(handle, str(file), MAX_LINE_BYTES), start=1):
            yield number, offset, len(raw), _decode(raw, file, number)
            offset += len(raw) + 1


def _decode(raw: bytes, file: Path | str, number: int) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as err:
        raise DataFormatError(
            f"{file}:{number}: not UTF-8 text (byte {err.start + 1} of the line)"
        ) from None


def _numpy(**columns: array) -> dict[str, np.ndarray]:
    """Compact `array.array`s (grown one record at a time: 8 bytes an int64, not a Python int's
    28 plus a list slot) as numpy arrays of the same type."""
    return {name: np.frombuffer(a, dtype=a.typecode) for name, a in columns.items()}


def _couplet_lines(file: Path) -> dict[str, np.ndarray]:
    """Every line of a couplet file (blank ones too: line i pairs with line i): where it is,
    its character count without spaces, and the split code of its text."""
    offset, size, length, bucket = array("q"), array("i"), array("i"), array("B")
    for _, at, nbytes, text in _scan(file):
        half = couplet_half(text)
        offset.append(at)
        size.append(nbytes)
        length.append(len(half))
        bucket.append(couplet_bucket(half))
    return _numpy(offset=offset, size=size, length=length, bucket=bucket)


def _title_lines(file: Path) -> dict[str, np.ndarray]:
    """Every non-blank line of a title–text file, parsed (a malformed one stops the build):
    where it is, its line number, the text's and the title's character counts, the split code
    of the text."""
    fmt = title_format(file)
    offset, size, line = array("q"), array("i"), array("q")
    text_length, title_length, bucket = array("i"), array("i"), array("B")
    for number, at, nbytes, raw in _scan(file):
        pair = parse_title_line(raw, f"{file}:{number}", fmt)
        if pair is None:
            continue
        offset.append(at)
        size.append(nbytes)
        line.append(number)
        text_length.append(len(pair[0]))
        title_length.append(len(pair[1]))
        bucket.append(couplet_bucket(pair[0]))
    return _numpy(offset=offset, size=size, line=line, text_length=text_length,
                  title_length=title_length, bucket=bucket)  # fmt: skip


_BUILDERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "couplet": _couplet_lines,
    "title": _title_lines,
}


@dataclass(frozen=True)
class LineIndex:
    """The index of one file.

    Attributes:
        file: the indexed file.
        kind: "couplet" (every line) or "title" (every non-blank line, parsed).
        arrays: per record: "offset" (int64 bytes), "size" (int32 bytes), and the kind's own
            ("length", "bucket"; "line", "text_length", "title_length", "bucket").
        cache: the .npz file it was read from or saved to (None: kept in memory only).
        loaded: read from the cache (no pass over the file).
    """

    file: Path
    kind: str
    arrays: dict[str, np.ndarray]
    cache: Path | None
    loaded: bool

    def __len__(self) -> int:
        return len(self.arrays["offset"])


def _key(file: Path, kind: str) -> dict[str, Any]:
    st = file.stat()
    return {"version": _VERSION, "kind": kind, "file": str(file.resolve()),
            "size": st.st_size, "mtime_ns": st.st_mtime_ns}  # fmt: skip


def writable_folder(folder: Path) -> bool:
    """Whether `folder` exists or can be made, and this process may write into it (a cache
    beside the user's data, else in the run folder)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _cache_folder(
    files: Sequence[Path], fallback: str | os.PathLike[str] | None, min_bytes: int
) -> Path | None:
    """`.kexue-cache` beside the files when it can be written, else `fallback` (None: no
    cache); None without creating anything when every file is under `min_bytes`."""
    if all(f.stat().st_size < min_bytes for f in files):
        return None
    beside = files[0].parent / CACHE_FOLDER
    if writable_folder(beside):
        return beside
    return Path(fallback) if fallback is not None else None


def _load(path: Path, key: dict[str, Any]) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["key"])) != key:
                return None  # another file, or this one changed: rebuild
            return {name: z[name] for name in z.files if name != "key"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # no cache yet, or a damaged one: rebuild


def _save(path: Path, key: dict[str, Any], arrays: dict[str, np.ndarray]) -> bool:
    from kexue.runs import atomic_write_bytes  # imports torch: only when a cache is written

    buf = io.BytesIO()
    np.savez(buf, key=np.array(json.dumps(key)), **arrays)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        return False  # a full disk: the index still works, from memory
    return True


def line_index(
    file: str | os.PathLike[str],
    kind: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    min_bytes: int = CACHE_MIN_BYTES,
) -> LineIndex:
    """The index of `file` (see the module docstring), from the cache when it matches.

    Args:
        kind: "couplet" or "title".
        cache_dir: the folder of the cache file (None: no cache, the index stays in memory).
        min_bytes: files smaller than this are not cached.

    Raises:
        InputError: a NUL byte (a binary file) or a line over `userfiles.MAX_LINE_BYTES`.
        DataFormatError: a line that is not UTF-8 or (titles) not a title–text record.
    """
    if kind not in _BUILDERS:
        raise ValueError(f"unknown index kind {kind!r}; valid: {', '.join(_BUILDERS)}")
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    key = _key(file, kind)
    cache = None
    if cache_dir is not None and key["size"] >= min_bytes:
        # the path's hash tells apart files of the same name in one fallback folder
        tag = hashlib.sha256(key["file"].encode()).hexdigest()[:12]
        cache = Path(cache_dir) / f"{file.name}.{kind}-{tag}.npz"
        arrays = _load(cache, key)
        if arrays is not None:
            return LineIndex(file, kind, arrays, cache, loaded=True)
    arrays = _BUILDERS[kind](file)
    # a file written to while it was read has an index of neither version: do not keep it
    if cache is not None and (_key(file, kind) != key or not _save(cache, key, arrays)):
        cache = None
    return LineIndex(file, kind, arrays, cache, loaded=False)


# ----------------------------------------------------------------------------- datasets
class _Files:
    """Read-only descriptors of the data files, opened on first use; `os.pread` has no shared
    file position, so forked DataLoader workers can share them, and pickling drops them."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.formats = [title_format(p) for p in self.paths]  # how a title line is parsed
        self._fds: list[int] | None = None

    def read(self, k: int, offset: int, size: int) -> bytes:
        if self._fds is None:
            self._fds = [os.open(p, os.O_RDONLY) for p in self.paths]
        return self.check(k, os.pread(self._fds[k], size, offset), size)

    def check(self, k: int, data: bytes, size: int) -> bytes:
        if len(data) != size:
            raise DataFormatError(
                f"{self.paths[k]}: shorter than its index (changed since it was indexed?)"
            )
        return data

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fds": None}

    def __del__(self) -> None:
        for fd in self._fds or ():
            os.close(fd)


class PairDataset(Sequence[tuple[str, str]]):
    """Records of indexed text files read on demand as pairs of strings (a base: see
    `CoupletPairs` and `TitlePairs`).

    `ds[i]` reads record i; `ds[a:b]` and `ds[rows]` (an integer array) are views of the same
    files that read nothing; iteration reads the records in order, through a buffer.

    Attributes:
        columns: per-record arrays of the whole index (a view keeps all of them).
        rows: the records of this view, as positions in `columns`.
    """

    _where: tuple[str, ...] = ()  # the columns that locate a record: `_read`'s `at`

    def __init__(self, files: _Files, columns: dict[str, np.ndarray], rows: np.ndarray) -> None:
        self.files = files
        self.columns = columns
        self.rows = rows
        self._at = [columns[name] for name in self._where]  # bound once: no dict lookup a read

    def _read(self, at: Sequence[int], read: Callable[[int, int, int], bytes]) -> tuple[str, str]:
        raise NotImplementedError

    def _view(self, rows: np.ndarray) -> Any:
        return type(self)(self.files, self.columns, rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self._view(self.rows[i])
        if isinstance(i, (np.ndarray, list, range)):
            return self._view(self.rows[np.asarray(i, dtype=np.int64)])
        row = self.rows[i]
        return self._read([int(col[row]) for col in self._at], self.files.read)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        handles = [open(p, "rb", buffering=_READ_BUFFER) for p in self.files.paths]  # noqa: SIM115

        def read(k: int, offset: int, size: int) -> bytes:
            # in file order the seek stays inside the buffer: one read() per megabyte
            handles[k].seek(offset)
            return self.files.check(k, handles[k].read(size), size)

        try:
            for start in range(0, len(self.rows), 2**16):  # Python ints for 64 k rows at a time
                rows = self.rows[start : start + 2**16]
                for at in zip(*(col[rows].tolist() for col in self._at), strict=True):
                    yield self._read(at, read)
        finally:
            for h in handles:
                h.close()

    def column(self, name: str) -> np.ndarray:
        """A per-record array of the index for the records of this view."""
        return self.columns[name][self.rows]

    @property
    def buckets(self) -> np.ndarray:
        """The split code of each record: CRC-32 of its first string mod 10."""
        return self.column("bucket")

    @property
    def lines(self) -> np.ndarray:
        """Line number (from 1) of each record in its file."""
        return self.column("line")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self):,} of {len(self.columns['bucket']):,} records)"


class CoupletPairs(PairDataset):
    """Couplets of an in.txt / out.txt folder as (first, second) strings, spaces between the
    characters removed (`kexue.data.couplet_half`), read on demand; blank pairs are left out.
    Build with `couplet_pairs`."""

    _where = ("offset_a", "size_a", "offset_b", "size_b", "line")

    def _read(self, at: Sequence[int], read: Callable[[int, int, int], bytes]) -> tuple[str, str]:
        offset_a, size_a, offset_b, size_b, line = at
        a = _decode(read(0, offset_a, size_a), self.files.paths[0], line)
        b = _decode(read(1, offset_b, size_b), self.files.paths[1], line)
        return couplet_half(a), couplet_half(b)

    @property
    def lengths(self) -> np.ndarray:
        """Characters per half of each couplet (both halves have as many)."""
        return self.column("length")

    def split(self) -> tuple[CoupletPairs, CoupletPairs, CoupletPairs]:
        """(train, validation, test) views: the fixed 80/10/10 split of
        `kexue.seq.split_couplets` (by the bucket of the first line), in file order.

        Raises:
            DataFormatError: a part would be empty (too few distinct first lines).
        """
        b = self.buckets
        parts = (self[np.flatnonzero(b >= 2)], self[np.flatnonzero(b == 1)],
                 self[np.flatnonzero(b == 0)])  # fmt: skip
        check_couplet_split(len(self), [len(p) for p in parts])
        return parts


class TitlePairs(PairDataset):
    """(text, title) pairs of title–text files (`kexue.data.parse_title_line`), read on demand.
    Build with `title_pairs`."""

    _where = ("file", "offset", "size", "line")

    def _read(self, at: Sequence[int], read: Callable[[int, int, int], bytes]) -> tuple[str, str]:
        k, offset, size, line = at
        path = self.files.paths[k]
        text = _decode(read(k, offset, size), path, line)
        pair = parse_title_line(text, f"{path}:{line}", self.files.formats[k])
        if pair is None:
            raise DataFormatError(f"{path}:{line}: blank (changed since it was indexed?)")
        return pair

    @property
    def text_lengths(self) -> np.ndarray:
        """Characters of each record's text (abstract, content)."""
        return self.column("text_length")

    @property
    def title_lengths(self) -> np.ndarray:
        """Characters of each record's title."""
        return self.column("title_length")

    def part(self, k: int) -> TitlePairs:
        """The records of the k-th file (a CSL folder: 0 dev.tsv, 1 test.tsv)."""
        return self[np.flatnonzero(self.column("file") == k)]


def couplet_pairs(
    path: str | os.PathLike[str] | None = None,
    *,
    fallback_cache_dir: str | os.PathLike[str] | None = None,
    min_bytes: int = CACHE_MIN_BYTES,
) -> CoupletPairs:
    """The couplets of a folder holding in.txt and out.txt, read on demand (the same pairs as
    `kexue.data.couplets`, in the same order; its default folder when `path` is None).

    The index is cached in `FOLDER/.kexue-cache`, or in `fallback_cache_dir` when the folder is
    read-only (None: kept in memory).

    Raises:
        DataFormatError: the files hold different numbers of lines (naming the first line
            without a partner), or line i of out.txt has another character count than line i
            of in.txt, or a line is not text (see `line_index`).
    """
    folder = _data_path(path, "couplets", "couplet")
    files = [folder / "in.txt", folder / "out.txt"]
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"{f} is missing (a couplet folder holds in.txt and out.txt)")
    cache = _cache_folder(files, fallback_cache_dir, min_bytes)
    a, b = (line_index(f, "couplet", cache_dir=cache, min_bytes=min_bytes).arrays for f in files)
    if len(a["offset"]) != len(b["offset"]):
        raise couplet_count_error(folder, len(a["offset"]), len(b["offset"]))
    bad = np.flatnonzero(a["length"] != b["length"])
    if bad.size:
        i = int(bad[0])
        raise couplet_length_error(files[1], i + 1, int(b["length"][i]), int(a["length"][i]))
    keep = np.flatnonzero(a["length"] > 0)  # blank in both files: no couplet
    columns = {"offset_a": a["offset"][keep], "size_a": a["size"][keep],
               "offset_b": b["offset"][keep], "size_b": b["size"][keep],
               "length": a["length"][keep], "bucket": a["bucket"][keep],
               "line": keep.astype(np.int64) + 1}  # fmt: skip
    return CoupletPairs(_Files(files), columns, np.arange(len(keep), dtype=np.int64))


def _title_files(path: str | os.PathLike[str] | None) -> list[Path]:
    root = _data_path(path, "csl_ts", "CSL title")
    if not root.is_dir():
        return [root]
    files = [root / "dev.tsv", root / "test.tsv"]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(
                f"{f} is missing (a CSL title folder holds dev.tsv and test.tsv; or pass one "
                f"title–text file, TSV or JSONL)"
            )
    return files


def title_pairs(
    path: str | os.PathLike[str] | None = None,
    *,
    fallback_cache_dir: str | os.PathLike[str] | None = None,
    min_bytes: int = CACHE_MIN_BYTES,
) -> TitlePairs:
    """The (text, title) pairs of a CSL folder (dev.tsv then test.tsv; `part(k)` gives one
    file's) or of one title–text file (TSV or JSONL, any size), read on demand; the default
    folder is the shared CSL data. Caching as in `couplet_pairs`.

    Raises:
        DataFormatError: a malformed line, named by file and line (see `parse_title_line`).
    """
    files = _title_files(path)
    cache = _cache_folder(files, fallback_cache_dir, min_bytes)
    indexes = [line_index(f, "title", cache_dir=cache, min_bytes=min_bytes).arrays for f in files]
    columns = {name: np.concatenate([ix[name] for ix in indexes]) for name in indexes[0]}
    columns["file"] = np.concatenate(
        [np.full(len(ix["offset"]), k, dtype=np.uint8) for k, ix in enumerate(indexes)]
    )
    return TitlePairs(_Files(files), columns, np.arange(len(columns["file"]), dtype=np.int64))


def title_split(
    path: str | os.PathLike[str] | None = None,
    n_eval: int = 200,
    held_out: int = 200,
    *,
    fallback_cache_dir: str | os.PathLike[str] | None = None,
    min_bytes: int = CACHE_MIN_BYTES,
) -> tuple[TitlePairs, TitlePairs]:
    """`kexue.data.csl_split` on `title_pairs(path)`: (train, held) views. A CSL folder trains
    on dev and test pairs `held_out`..end and holds out test pairs 0..`n_eval`; one file holds
    out its first `n_eval` pairs and trains on those after the first `held_out`."""
    csl_split_rows(0, 0, n_eval, held_out)  # a bad n_eval is refused before reading
    pairs = title_pairs(path, fallback_cache_dir=fallback_cache_dir, min_bytes=min_bytes)
    n_dev = len(pairs.part(0)) if len(pairs.files.paths) == 2 else 0
    train, held = csl_split_rows(n_dev, len(pairs) - n_dev, n_eval, held_out)
    return pairs[train], pairs[held]


def char_counts(
    pairs: Sequence[tuple[str, str]], text: Callable[[str, str], str] = lambda a, b: a + b
) -> Counter[str]:
    """How often each character occurs in `text(first, second)` over the pairs, in one pass
    (a streamed dataset is read in file order; the counts are as small as the alphabet)."""
    counts: Counter[str] = Counter()
    for a, b in pairs:
        counts.update(text(a, b))
    return counts
