r"""Readers for the Chinese NLP competitions' data files, with errors that name file and line.

    read_duie(path)        DuIE 2.0 / 1.0 JSONL: {"text", "spo_list": [{"subject", "predicate",
                           "object": {"@value": …} or str, …}]} → `RelationExample`
    read_duee(path)        DuEE 1.0 JSONL: {"text", "event_list": [{"event_type", "trigger",
                           "trigger_start_index", "arguments": [{"role", "argument",
                           "argument_start_index"}]}]} → `EventExample`
    read_squad(path)       SQuAD-format JSON (DuReader-robust, CMRC): data → paragraphs →
                           context, qas → id, question, answers [{text, answer_start}] →
                           `QAExample` (answer_start checked against the context)
    read_clue_classification(path)
                           CLUE classification JSONL (IFLYTEK, TNEWS, …): {"sentence", "label",
                           "label_des"/"label_desc"} → (sentence, label)
    read_title_text(path)  title–text pairs: TSV (text<TAB>title, or CSL's task, abstract,
                           title) or JSONL ({"title", "content"/"text"/"abstract"}) →
                           (text, title)

Each reader streams JSONL line by line and raises `DataFormatError` (exit status 2 from the
command line) whose message starts with `FILE:LINE:` and names the field at fault: a line that is
not JSON, a missing or mistyped field, an answer or argument whose offset does not point at its
text. Couplets (`in.txt`, `out.txt`) are read by `kexue.data.couplets`.
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
    "read_clue_classification",
    "read_duee",
    "read_duie",
    "read_squad",
    "read_title_text",
]


@dataclass(frozen=True)
class RelationExample:
    """One DuIE sentence: its text and (subject, predicate, object) triples."""

    text: str
    spo: tuple[tuple[str, str, str], ...]


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
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{file}:{number}: not JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataFormatError(f"{file}:{number}: expected a JSON object per line")
            yield str(file), number, record


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


def _value(x: Any) -> Any:
    """DuIE 2.0 wraps objects as {"@value": …}; 1.0 gives the string."""
    return x.get("@value") if isinstance(x, dict) else x


def read_duie(path: str | os.PathLike[str]) -> list[RelationExample]:
    """DuIE JSONL as `RelationExample`s (a test file without spo_list gives no triples)."""
    out = []
    for file, number, rec in _jsonl(path):
        where = f"{file}:{number}"
        text = _field(where, rec, "text", str)
        spos = []
        for i, spo in enumerate(rec.get("spo_list", []) or []):
            at = f"{where}: spo_list[{i}]"
            if not isinstance(spo, dict):
                raise DataFormatError(f"{at} should be an object")
            triple = tuple(
                _value(_field(at, spo, k, (str, dict))) for k in ("subject", "predicate", "object")
            )
            if not all(isinstance(t, str) and t for t in triple):
                raise DataFormatError(f"{at}: subject, predicate and object must be non-empty")
            spos.append(triple)
        out.append(RelationExample(text, tuple(spos)))
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


def read_squad(path: str | os.PathLike[str]) -> list[QAExample]:
    """SQuAD-format JSON (DuReader-robust, CMRC 2018) as `QAExample`s."""
    file = Path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{file}: no such file") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{file}:{err.lineno}: not JSON ({err.msg})") from None
    out = []
    for a, article in enumerate(_field(str(file), doc, "data", list)):
        for p, para in enumerate(_field(f"{file}: data[{a}]", article, "paragraphs", list)):
            at = f"{file}: data[{a}].paragraphs[{p}]"
            context = _field(at, para, "context", str)
            for q, qa in enumerate(_field(at, para, "qas", list)):
                q_at = f"{at}.qas[{q}]"
                answers = []
                for k, ans in enumerate(qa.get("answers", []) or []):
                    text = _field(f"{q_at}.answers[{k}]", ans, "text", str)
                    start = _field(f"{q_at}.answers[{k}]", ans, "answer_start", int)
                    if context[start : start + len(text)] != text:
                        raise DataFormatError(
                            f"{q_at}.answers[{k}]: {text!r} is not at answer_start {start}"
                        )
                    answers.append((text, start))
                question = _field(q_at, qa, "question", str)
                qid = str(qa.get("id", f"{a}-{p}-{q}"))
                out.append(QAExample(qid, context, question, tuple(answers)))
    return out


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


def read_title_text(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Title–text pairs as (text, title): JSONL with "title" and one of "content", "text",
    "abstract"; or TSV with 2 columns (text, title) or CSL's 3 (task, abstract, title)."""
    file = Path(path)
    if file.suffix.lower() in (".jsonl", ".json"):
        out = []
        for name, number, rec in _jsonl(file):
            where = f"{name}:{number}"
            body = next((k for k in ("content", "text", "abstract") if k in rec), None)
            if body is None:
                raise DataFormatError(f"{where}: missing field 'content' (or 'text', 'abstract')")
            out.append((_field(where, rec, body, str), _field(where, rec, "title", str)))
        return out
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    out = []
    with open(file, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) not in (2, 3):
                raise DataFormatError(
                    f"{file}:{number}: expected 2 (text, title) or 3 (task, abstract, title) "
                    f"tab-separated columns, got {len(cols)}"
                )
            out.append((cols[-2], cols[-1]))
    return out
