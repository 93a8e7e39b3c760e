r"""Readers for the Chinese NLP competitions' data files, with errors that name file and line.

    read_duie(path)        DuIE 2.0 / 1.0 JSONL: {"text", "spo_list": [{"subject", "predicate",
                           "object": {"@value": …, "inWork": …} or str, "subject_type",
                           "object_type"}]} → `RelationExample` (its `relations` keep every
                           object slot and the types: `SPO.to_json` writes them back)
    read_duee(path)        DuEE 1.0 JSONL: {"text", "event_list": [{"event_type", "trigger",
                           "trigger_start_index", "arguments": [{"role", "argument",
                           "argument_start_index"}]}]} → `EventExample`
    read_squad(path)       SQuAD-format JSON (DuReader-robust, CMRC): data → paragraphs →
                           context, qas → id, question, answers [{text, answer_start}] →
                           `QAExample` (answer_start checked against the context; errors name
                           the line of the question's id where the id is found in the file)
    read_clue_classification(path)
                           CLUE classification JSONL (IFLYTEK, TNEWS, …): {"sentence", "label",
                           "label_des"/"label_desc"} → (sentence, label)
    read_title_text(path)  title–text pairs: TSV (text<TAB>title, or CSL's task, abstract,
                           title) or JSONL ({"title", "content"/"text"/"abstract"}) →
                           (text, title); one line: parse_title_line (shared with
                           kexue.data.streaming, which reads files of any size on demand)

    lic2020_files(folder)  a LIC2020 folder: {task: {split: path}} for the task folders present
                           among duie/, duee/, dureader/ (official or train/dev/test names)

Each reader streams JSONL line by line and raises `DataFormatError` (exit status 2 from the
command line) whose message starts with `FILE:LINE:` and names the field at fault: a line that is
not JSON, a missing or mistyped field, an answer or argument whose offset does not point at its
text. Couplets (`in.txt`, `out.txt`) are read by `kexue.data.couplets` (in memory) and
`kexue.data.couplet_pairs` (on demand).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kexue.data.corpora import DataFormatError

__all__ = [
    "Event",
    "EventExample",
    "QAExample",
    "RelationExample",
    "LIC2020_FILES",
    "SPO",
    "lic2020_files",
    "parse_title_line",
    "read_clue_classification",
    "read_clue_folder",
    "read_clue_labels",
    "read_duee",
    "read_duie",
    "read_squad",
    "read_title_text",
    "title_format",
]


@dataclass(frozen=True)
class SPO:
    """One DuIE triple in full: `object` and `object_type` as (slot, value) pairs, "@value"
    first and the other slots (inWork, onDate, …) sorted; DuIE 1.0's plain strings become the
    single slot "@value"."""

    subject: str
    predicate: str
    object: tuple[tuple[str, str], ...]
    subject_type: str = ""
    object_type: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The DuIE 2.0 spo_list entry (the competition's submission format)."""
        return {
            "predicate": self.predicate,
            "subject": self.subject,
            "subject_type": self.subject_type,
            "object": dict(self.object),
            "object_type": dict(self.object_type),
        }


@dataclass(frozen=True)
class RelationExample:
    """One DuIE sentence: its text, (subject, predicate, object "@value") triples, and the
    triples in full (`relations`: every object slot and the types)."""

    text: str
    spo: tuple[tuple[str, str, str], ...]
    relations: tuple[SPO, ...] = ()


@dataclass(frozen=True)
class Event:
    """One DuEE event: type, trigger and its offset, and (role, argument, offset) triples."""

    event_type: str
    trigger: str
    trigger_start: int
    arguments: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class EventExample:
    text: str
    events: tuple[Event, ...]
    id: str = ""


@dataclass(frozen=True)
class QAExample:
    """One question on a context; `answers` as (text, start) with context[start:] starting
    with the text."""

    id: str
    context: str
    question: str
    answers: tuple[tuple[str, int], ...]


def _jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    with open(file, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield str(file), number, _json_object(f"{file}:{number}", line)


def _json_object(where: str, line: str) -> dict[str, Any]:
    """One JSON-lines record, or a DataFormatError naming `where` (file:line)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{where}: not JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise DataFormatError(f"{where}: expected a JSON object per line")
    return record


def _field(where: str, record: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in record:
        raise DataFormatError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise DataFormatError(
            f"{where}: field {name!r} should be {expected}, got {type(value).__name__}"
        )
    return value


def _slots(where: str, name: str, x: str | dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """DuIE 2.0 wraps objects (and object types) as {"@value": …, slot: …}; 1.0 gives the
    string. → (slot, value) pairs, "@value" first."""
    if isinstance(x, str):
        return (("@value", x),)
    if not all(isinstance(v, str) for v in x.values()):
        raise DataFormatError(f"{where}: every slot of {name!r} should be a string")
    return tuple(sorted(x.items(), key=lambda kv: (kv[0] != "@value", kv[0])))


def read_duie(path: str | os.PathLike[str]) -> list[RelationExample]:
    """DuIE JSONL as `RelationExample`s (a test file without spo_list gives no triples)."""
    out = []
    for file, number, rec in _jsonl(path):
        where = f"{file}:{number}"
        text = _field(where, rec, "text", str)
        spos, full = [], []
        for i, spo in enumerate(rec.get("spo_list", []) or []):
            at = f"{where}: spo_list[{i}]"
            if not isinstance(spo, dict):
                raise DataFormatError(f"{at} should be an object")
            subject = _field(at, spo, "subject", str)
            predicate = _field(at, spo, "predicate", str)
            obj = _slots(at, "object", _field(at, spo, "object", (str, dict)))
            value = dict(obj).get("@value")
            if not (subject and predicate and value):
                raise DataFormatError(
                    f"{at}: subject, predicate and object (its @value) must be non-empty"
                )
            types = spo.get("object_type", {})
            if not isinstance(types, (str, dict)) or not isinstance(
                spo.get("subject_type", ""), str
            ):
                raise DataFormatError(f"{at}: subject_type / object_type should be str or object")
            spos.append((subject, predicate, value))
            full.append(
                SPO(
                    subject,
                    predicate,
                    obj,
                    spo.get("subject_type", ""),
                    _slots(at, "object_type", types) if types else (),
                )  # fmt: skip
            )
        out.append(RelationExample(text, tuple(spos), tuple(full)))
    return out


def read_duee(path: str | os.PathLike[str]) -> list[EventExample]:
    """DuEE 1.0 JSONL as `EventExample`s; offsets are checked against the text."""
    out = []
    for file, number, rec in _jsonl(path):
        where = f"{file}:{number}"
        text = _field(where, rec, "text", str)
        events = []
        for i, ev in enumerate(rec.get("event_list", []) or []):
            at = f"{where}: event_list[{i}]"
            trigger = _field(at, ev, "trigger", str)
            start = _field(at, ev, "trigger_start_index", int)
            if text[start : start + len(trigger)] != trigger:
                raise DataFormatError(f"{at}: trigger {trigger!r} is not at offset {start}")
            args = []
            for j, arg in enumerate(_field(at, ev, "arguments", list)):
                a_at = f"{at}.arguments[{j}]"
                value = _field(a_at, arg, "argument", str)
                a_start = _field(a_at, arg, "argument_start_index", int)
                if text[a_start : a_start + len(value)] != value:
                    raise DataFormatError(f"{a_at}: argument {value!r} is not at offset {a_start}")
                args.append((_field(a_at, arg, "role", str), value, a_start))
            events.append(Event(_field(at, ev, "event_type", str), trigger, start, tuple(args)))
        out.append(EventExample(text, tuple(events), str(rec.get("id", ""))))
    return out


def _line_of(raw: str, needle: Any) -> int | None:
    """Line (from 1) of the first occurrence of `needle` as a JSON string in `raw`, if any."""
    if not isinstance(needle, str) or not needle:
        return None
    for form in (json.dumps(needle, ensure_ascii=False), json.dumps(needle)):
        at = raw.find(form)
        if at >= 0:
            return raw.count("\n", 0, at) + 1
    return None


def read_squad(path: str | os.PathLike[str]) -> list[QAExample]:
    """SQuAD-format JSON (DuReader-robust, CMRC 2018) as `QAExample`s.

    One JSON document has no per-record line: an error names the record's path
    (data[a].paragraphs[p].qas[q]) and, when the question's id occurs in the file, its line.
    """
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{file}: no such file") from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{file}:{err.lineno}: not JSON ({err.msg})") from None
    if not isinstance(doc, dict):
        raise DataFormatError(f"{file}: expected a JSON object with a 'data' list")
    out = []
    for a, article in enumerate(_field(str(file), doc, "data", list)):
        if not isinstance(article, dict):
            raise DataFormatError(f"{file}: data[{a}] should be an object")
        for p, para in enumerate(_field(f"{file}: data[{a}]", article, "paragraphs", list)):
            at = f"{file}: data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict):
                raise DataFormatError(f"{at} should be an object")
            context = _field(at, para, "context", str)
            for q, qa in enumerate(_field(at, para, "qas", list)):
                try:
                    where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                    out.append(_squad_question(where, qa, context, f"{a}-{p}-{q}"))
                except DataFormatError as err:
                    line = _line_of(raw, qa.get("id")) if isinstance(qa, dict) else None
                    raise DataFormatError(f"{file}{f':{line}' if line else ''}: {err}") from None
    return out


def _squad_question(q_at: str, qa: Any, context: str, default_id: str) -> QAExample:
    if not isinstance(qa, dict):
        raise DataFormatError(f"{q_at} should be an object")
    answers = []
    for k, ans in enumerate(_field(q_at, qa, "answers", list) if "answers" in qa else []):
        if not isinstance(ans, dict):
            raise DataFormatError(f"{q_at}.answers[{k}] should be an object")
        text = _field(f"{q_at}.answers[{k}]", ans, "text", str)
        start = _field(f"{q_at}.answers[{k}]", ans, "answer_start", int)
        if context[start : start + len(text)] != text:
            raise DataFormatError(f"{q_at}.answers[{k}]: {text!r} is not at answer_start {start}")
        answers.append((text, start))
    question = _field(q_at, qa, "question", str)
    return QAExample(str(qa.get("id", default_id)), context, question, tuple(answers))


def read_clue_classification(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """CLUE classification JSONL as (sentence, label) pairs; labels stay strings (IFLYTEK's and
    TNEWS's are numeric codes whose names are in label_des / label_desc)."""
    out = []
    for file, number, rec in _jsonl(path):
        where = f"{file}:{number}"
        sentence = _field(where, rec, "sentence", str)
        label = _field(where, rec, "label", (str, int))
        out.append((sentence, str(label)))
    return out


def read_clue_folder(
    folder: str | os.PathLike[str],
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    """A CLUE classification folder → (train, dev, label names): train.json and dev.json read by
    `read_clue_classification` (bad lines: InputError naming file and line); the class order
    from labels.json when present, else the order of first appearance in train, then dev."""
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(
            f"{root}: expected a CLUE classification folder (train.json and "
            "dev.json, JSON lines with sentence and label; labels.json "
            "optional)"
        )
    missing = [n for n in ("train.json", "dev.json") if not (root / n).is_file()]
    if missing:
        raise DataFormatError(f"{root}: {' and '.join(missing)} missing (a CLUE folder holds "
                         "train.json and dev.json)")  # fmt: skip
    train = read_clue_classification(root / "train.json")
    dev = read_clue_classification(root / "dev.json")
    if not train or not dev:
        raise DataFormatError(f"{root}: {'train.json' if not train else 'dev.json'} has no lines")
    if (root / "labels.json").is_file():
        names = read_clue_labels(root / "labels.json")
    else:
        names = list(dict.fromkeys(label for _, label in [*train, *dev]))
    index = {name: k for k, name in enumerate(names)}

    def numbered(items: list[tuple[str, str]], file: str) -> list[tuple[str, int]]:
        for k, (_, label) in enumerate(items, start=1):
            if label not in index:
                raise DataFormatError(f"{root / file}: record {k}: label {label!r} is not in "
                                      "labels.json")  # fmt: skip
        return [(text, index[label]) for text, label in items]

    return numbered(train, "train.json"), numbered(dev, "dev.json"), names


def read_clue_labels(path: str | os.PathLike[str]) -> list[str]:
    """labels.json: one {"label": …, "label_des" / "label_desc": …} per line, in class order."""
    return [str(_field(f"{file}:{number}", rec, "label", (str, int)))
            for file, number, rec in _jsonl(path)]  # fmt: skip


def title_format(path: str | os.PathLike[str]) -> str:
    """The format `parse_title_line` reads a file's lines in: "jsonl" for .jsonl / .json,
    else "tsv"."""
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".json") else "tsv"


def parse_title_line(line: str, where: str, fmt: str) -> tuple[str, str] | None:
    """One line of a title–text file as (text, title), None for a blank line: the one parser of
    `read_title_text` and `kexue.data.streaming.title_pairs`.

    Args:
        line: the line (a trailing line feed is ignored).
        where: `FILE:LINE`, the start of an error's message.
        fmt: "jsonl" ({"title", "content"/"text"/"abstract"}) or "tsv" (2 columns text, title,
            or CSL's 3: task, abstract, title); see `title_format`.

    Raises:
        DataFormatError: not JSON, not an object, a missing or mistyped field, or another
            number of columns.
    """
    if not line.strip():
        return None
    if fmt == "jsonl":
        rec = _json_object(where, line)
        body = next((k for k in ("content", "text", "abstract") if k in rec), None)
        if body is None:
            raise DataFormatError(f"{where}: missing field 'content' (or 'text', 'abstract')")
        return _field(where, rec, body, str), _field(where, rec, "title", str)
    cols = line.rstrip("\n").split("\t")
    if len(cols) not in (2, 3):
        raise DataFormatError(
            f"{where}: expected 2 (text, title) or 3 (task, abstract, title) "
            f"tab-separated columns, got {len(cols)}"
        )
    return cols[-2], cols[-1]


def read_title_text(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Title–text pairs as (text, title), all in memory: JSONL with "title" and one of
    "content", "text", "abstract"; or TSV with 2 columns (text, title) or CSL's 3 (task,
    abstract, title). `kexue.data.streaming.title_pairs` reads a file of any size on demand."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    fmt = title_format(file)
    out = []
    with open(file, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            pair = parse_title_line(line, f"{file}:{number}", fmt)
            if pair is not None:
                out.append(pair)
    return out


#: The file names each LIC2020 task folder may use per split, first found wins: the releases'
#: own (DuIE 2.0 duie_*.json, DuEE 1.0 duee_*.json, DuReader-robust train/dev/test.json) and
#: plain train.json / dev.json / test.json.
LIC2020_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "duie": {
        "train": ("duie_train.json", "train.json"),
        "dev": ("duie_dev.json", "dev.json"),
        "test": ("duie_test2.json", "duie_test1.json", "test.json"),
    },
    "duee": {
        "train": ("duee_train.json", "train.json"),
        "dev": ("duee_dev.json", "dev.json"),
        "test": ("duee_test2.json", "duee_test1.json", "test.json"),
    },
    "dureader": {
        "train": ("train.json",),
        "dev": ("dev.json",),
        "test": ("test.json", "test1.json"),
    },
}


def lic2020_files(folder: str | os.PathLike[str]) -> dict[str, dict[str, Path]]:
    """{task: {split: file}} of a LIC2020 folder holding any of duie/, duee/, dureader/.

    A task folder without a training file, or a folder holding none of the three, is an error
    that names what was looked for; dev and test files are optional (no score, no predictions).
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(f"{root}: expected a folder holding duie/, duee/ or dureader/")
    found: dict[str, dict[str, Path]] = {}
    for task, splits in LIC2020_FILES.items():
        sub = root / task
        if not sub.is_dir():
            continue
        files = {}
        for split, names in splits.items():
            hit = next((sub / n for n in names if (sub / n).is_file()), None)
            if hit is not None:
                files[split] = hit
        if "train" not in files:
            raise DataFormatError(
                f"{sub}: no training file (looked for {' or '.join(splits['train'])})"
            )
        found[task] = files
    if not found:
        raise DataFormatError(
            f"{root}: none of the task folders duie/, duee/, dureader/ "
            f"(found: {', '.join(sorted(p.name for p in root.iterdir())) or 'nothing'})"
        )
    return found
