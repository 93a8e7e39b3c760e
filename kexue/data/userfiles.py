r"""Reading the user's own files for the text and graph tools, with errors that name the file.

    iter_corpus(paths)          lines (or whole files) of text files, folders (recursive) or "-"
                                (stdin), decoded with a named encoding, streamed: memory does not
                                grow with the corpus
    read_lexicon(path)          a word list in jieba's dictionary format: `word [count] [tag]`
    read_graph(path)            an edge list (`u v [w]`), Pajek `.net`, or a file networkx reads
                                (.gml, .graphml, .gexf)
    read_matrix(path)           a numeric CSV/TSV/whitespace table as an (n, d) array

Every problem is an `InputError` (a ValueError) whose message starts with `FILE:LINE:` where a
line is at fault: a binary file, text that is not in the encoding, a line over `max_line_bytes`
(a file without line breaks), a bad weight, a missing column, an empty input.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import networkx as nx
import numpy as np

from kexue.errors import InputError

__all__ = ["iter_corpus", "read_graph", "read_lexicon", "read_matrix"]

MAX_LINE_BYTES = 10 * 2**20  # a "line" longer than this is a file without line breaks
_CHUNK = 2**20


def _files(paths: Sequence[str | Path]) -> Iterator[Path | None]:
    """Files in the order given; folders expand to their files (sorted, recursive, hidden
    files skipped); "-" is stdin (None)."""
    if not paths:
        raise InputError("no input: give files, folders or - for stdin")
    for raw in paths:
        if str(raw) == "-":
            yield None
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.parts)
            )
            if not found:
                raise InputError(f"{path}: the folder holds no files")
            yield from found
        elif path.is_file():
            yield path
        else:
            raise InputError(f"{path}: no such file or folder")


def _raw_lines(handle: io.BufferedIOBase, name: str, max_line_bytes: int) -> Iterator[bytes]:
    """Byte lines of a binary stream, refusing NUL bytes (binary files) and overlong lines."""
    pending = b""
    lineno = 0
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            break
        if b"\0" in chunk:
            before = (pending + chunk[: chunk.index(b"\0")]).count(b"\n")
            raise InputError(
                f"{name}:{lineno + before + 1}: a NUL byte: this looks like a binary file, "
                "not text"
            )
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            lineno += 1
            if len(line) > max_line_bytes:
                raise InputError(
                    f"{name}:{lineno}: line of {len(line):,} bytes, over the "
                    f"{max_line_bytes:,}-byte limit (a file without line breaks?)"
                )
            yield line
        if len(pending) > max_line_bytes:
            raise InputError(f"{name}:{lineno + 1}: line of over {max_line_bytes:,} bytes "
                             "without a break (a file without line breaks?)")  # fmt: skip
    if pending:
        yield pending


def _numbered(
    paths: Sequence[str | Path], encoding: str, max_line_bytes: int
) -> Iterator[tuple[str, int, str]]:
    """(file name, line number, decoded line) for every line, blank ones included."""
    try:
        "".encode(encoding)
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}") from None
    for path in _files(paths):
        name = "<stdin>" if path is None else str(path)
        handle = sys.stdin.buffer if path is None else path.open("rb")
        try:
            for lineno, raw in enumerate(_raw_lines(handle, name, max_line_bytes), 1):
                try:
                    text = raw.decode(encoding).rstrip("\r")
                except UnicodeDecodeError as err:
                    raise InputError(
                        f"{name}:{lineno}: not {encoding} text (byte {err.start + 1} of the "
                        f"line); pass --encoding (e.g. gb18030)"
                    ) from None
                yield name, lineno, text
        finally:
            if path is not None:
                handle.close()


def iter_corpus(
    paths: Sequence[str | Path],
    *,
    encoding: str = "utf-8",
    documents: str = "lines",
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[str]:
    """Stream the texts of a corpus.

    Args:
        paths: files, folders (every file below, sorted) or "-" for stdin.
        encoding: the files' encoding (e.g. "utf-8", "gb18030"); a byte sequence that does not
            decode is an error naming the file and line, never silently replaced.
        documents: "lines" (one text per non-empty line) or "files" (one text per file, lines
            joined by newlines).
        max_line_bytes: longest line accepted.

    Raises:
        InputError: missing path, empty folder, binary file, undecodable or overlong line, or no
            text at all.
    """
    if documents not in ("lines", "files"):
        raise ValueError(f"documents must be 'lines' or 'files', got {documents!r}")
    produced = False
    current, parts = None, []
    for name, _, text in _numbered(paths, encoding, max_line_bytes):
        if documents == "lines":
            if text.strip():
                produced = True
                yield text
            continue
        if name != current:
            if any(p.strip() for p in parts):
                produced = True
                yield "\n".join(parts)
            current, parts = name, []
        parts.append(text)
    if documents == "files" and any(p.strip() for p in parts):
        produced = True
        yield "\n".join(parts)
    if not produced:
        raise InputError(f"{', '.join(map(str, paths))}: no text (empty input)")


def read_lexicon(path: str | Path, *, encoding: str = "utf-8") -> dict[str, float]:
    """A lexicon in jieba's dictionary format: one `word [count] [tag]` per line (a missing count
    is 1). This is the format `kexue words` writes."""
    lexicon: dict[str, float] = {}
    for _, lineno, line in _numbered([path], encoding, MAX_LINE_BYTES):
        fields = line.split()
        if not fields:
            continue
        count = 1.0
        if len(fields) >= 2:
            try:
                count = float(fields[1])
            except ValueError:
                raise InputError(f"{path}:{lineno}: count {fields[1]!r} of {fields[0]!r} is not "
                                 "a number (expected: word [count] [tag])") from None  # fmt: skip
            if not count > 0:
                raise InputError(f"{path}:{lineno}: count of {fields[0]!r} must be > 0, "
                                 f"got {fields[1]}")  # fmt: skip
        lexicon[fields[0]] = lexicon.get(fields[0], 0.0) + count
    return lexicon


def _node(token: str) -> int | str:
    return int(token) if token.lstrip("-").isdigit() else token


def _edge_list(path: Path, directed: bool, encoding: str) -> nx.Graph:
    graph: nx.Graph = nx.DiGraph() if directed else nx.Graph()
    for lineno, raw in enumerate(_raw_lines(path.open("rb"), str(path), MAX_LINE_BYTES), 1):
        line = raw.decode(encoding, errors="strict").split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            raise InputError(f"{path}:{lineno}: an edge needs two nodes (u v [weight]), got "
                             f"{line!r}")  # fmt: skip
        if len(fields) > 3:
            raise InputError(f"{path}:{lineno}: too many columns ({len(fields)}); an edge is "
                             "u v [weight]")  # fmt: skip
        weight = 1.0
        if len(fields) == 3:
            try:
                weight = float(fields[2])
            except ValueError:
                raise InputError(
                    f"{path}:{lineno}: weight {fields[2]!r} is not a number"
                ) from None
            if not np.isfinite(weight) or weight < 0:
                raise InputError(
                    f"{path}:{lineno}: weight must be finite and ≥ 0, got {fields[2]}"
                )
        u, v = _node(fields[0]), _node(fields[1])
        # repeated links add up, as in infomap
        old = graph.get_edge_data(u, v, {"weight": 0.0})["weight"]
        graph.add_edge(u, v, weight=old + weight)
    return graph


def _pajek(path: Path, directed: bool, encoding: str) -> nx.Graph:
    """Pajek .net as infomap writes and reads it: *Vertices n with `id "name"` lines, then
    *Edges (undirected) or *Arcs (directed) with `u v [w]`."""
    graph: nx.Graph = nx.DiGraph() if directed else nx.Graph()
    section = None
    for lineno, raw in enumerate(_raw_lines(path.open("rb"), str(path), MAX_LINE_BYTES), 1):
        line = raw.decode(encoding).strip()
        if not line or line.startswith("%") or line.startswith("#"):
            continue
        if line.startswith("*"):
            section = line.split()[0].lower()
            if section == "*arcs" and not directed:
                graph = nx.DiGraph(graph)
                directed = True
            continue
        fields = line.split()
        if section == "*vertices":
            name = line[len(fields[0]) :].strip().strip('"') or fields[0]
            graph.add_node(_node(fields[0]), name=name)
        elif section in ("*edges", "*arcs", "*links"):
            if len(fields) < 2:
                raise InputError(f"{path}:{lineno}: a link needs two nodes, got {line!r}")
            try:
                weight = float(fields[2]) if len(fields) > 2 else 1.0
            except ValueError:
                raise InputError(
                    f"{path}:{lineno}: weight {fields[2]!r} is not a number"
                ) from None
            u, v = _node(fields[0]), _node(fields[1])
            old = graph.get_edge_data(u, v, {"weight": 0.0})["weight"]
            graph.add_edge(u, v, weight=old + weight)
        else:
            raise InputError(f"{path}:{lineno}: {line!r} before a *Vertices/*Edges/*Arcs header")
    return graph


def read_graph(path: str | Path, *, directed: bool = False, encoding: str = "utf-8") -> nx.Graph:
    """A graph from an edge list (`u v [w]`, `#` comments; repeated links add their weights),
    Pajek `.net`, or GML / GraphML / GEXF (through networkx). Node names that are integers
    become ints. Self-loops and isolated nodes are kept (the map equation defines both).

    Raises:
        InputError: a missing file, a bad line (named), or a graph without nodes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    readers = {".gml": nx.read_gml, ".graphml": nx.read_graphml, ".gexf": nx.read_gexf}
    try:
        if path.suffix.lower() in readers:
            graph = readers[path.suffix.lower()](path)
            if directed and not graph.is_directed():
                graph = graph.to_directed()
        elif path.suffix.lower() == ".net":
            graph = _pajek(path, directed, encoding)
        else:
            graph = _edge_list(path, directed, encoding)
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not {encoding} text ({err.reason})") from None
    except nx.NetworkXError as err:
        raise InputError(f"{path}: {err}") from None
    if graph.number_of_nodes() == 0:
        raise InputError(f"{path}: the graph has no nodes")
    return graph


def read_matrix(path: str | Path) -> np.ndarray:
    """A numeric table (comma, tab or whitespace separated; a non-numeric first row is a header)
    as an (n, d) float array."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows: list[list[float]] = []
    header_seen = False
    for _, lineno, line in _numbered([path], "utf-8", MAX_LINE_BYTES):
        fields = line.replace(",", " ").replace("\t", " ").split()
        if not fields:
            continue
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if not rows and not header_seen:
                header_seen = True
                continue  # a header
            raise InputError(f"{path}:{lineno}: not a number in {line[:60]!r}") from None
        if len(rows[-1]) != len(rows[0]):
            raise InputError(f"{path}:{lineno}: {len(rows[-1])} columns, the first row has "
                             f"{len(rows[0])}")  # fmt: skip
    if not rows:
        raise InputError(f"{path}: no numeric rows")
    x = np.asarray(rows)
    if not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x))[0][0]) + 1
        raise InputError(f"{path}: row {bad} holds a nan or inf")
    return x
