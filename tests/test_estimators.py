"""The scikit-learn contract of every estimator in kexue (in the spirit of sklearn's
`parametrize_with_checks`, on each estimator's own kind of input: texts, lexicons, graphs)."""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from kexue.graph import InfoMap
from kexue.text import (
    CohesionLexicon,
    MinEntropyLexicon,
    NgramCounter,
    TemplateFinder,
    TemplateParser,
    UnigramSegmenter,
)

PKG = Path(__file__).resolve().parents[1] / "kexue"

TEXTS = ["我们的工作很好", "我们的生活很好", "他们的工作不好", "工作和生活"] * 5
PIECES = [["我", "想", "吃", "苹果", "吗"], ["我", "想", "喝", "水", "吗"]] * 10
TEMPLATES = {(None, "的", None): 5, ("我", None, "吗"): 3}


def _graph() -> nx.Graph:
    g = nx.Graph()
    for clique in (range(0, 5), range(5, 10)):
        g.add_edges_from((a, b) for a in clique for b in clique if a < b)
    g.add_edge(4, 5)
    return g


# estimator, a valid input, inputs of the wrong type, an empty input, methods needing a fit
CASES = [
    (NgramCounter(n=2), TEXTS, ["abab", 5, [1, 2]], [], [("to_dict", ())]),
    (CohesionLexicon(n=3, min_count=2), TEXTS, ["我们的工作", 3, [b"x"]], [], [("segmenter", ())]),
    (MinEntropyLexicon(min_count=2), TEXTS, ["我们的工作", None], [], [("segmenter", ())]),
    (
        UnigramSegmenter(),
        {"我们": 3, "的": 5, "工作": 2},
        [["我们"], "我们", 3],
        {},
        [("segment", ("我们的工作",)), ("transform", (["我们的"],))],
    ),
    (
        TemplateFinder(min_count=3, min_pmi=0.1),
        PIECES,
        ["我想吃", 7, ["我想", "喝水"]],
        [],
        [("nontrivial", ())],
    ),
    (TemplateParser(), TEMPLATES, [[(None, "的", None)], "x"], {}, [("parse", (["我", "的"],))]),
    (InfoMap(random_state=0, num_trials=2), _graph(), [[(0, 1)], np.eye(3)], nx.Graph(), []),
]
IDS = [type(c[0]).__name__ for c in CASES]


def _same(a: object, b: object) -> bool:
    """Equality of fitted attributes (arrays, tables, mappings, sequences, plain values)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if hasattr(a, "to_dict"):
        return _same(a.to_dict(), b.to_dict())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _fitted(est: BaseEstimator) -> dict[str, object]:
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def test_every_estimator_is_checked() -> None:
    """Each class with a `fit` method under kexue/ (recipes aside) is one of CASES."""
    found = set()
    for path in PKG.rglob("*.py"):
        if "recipes" in path.parts:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(f, ast.FunctionDef) and f.name == "fit" for f in node.body
            ):
                found.add(node.name)
    assert found == set(IDS)


@pytest.mark.parametrize(("est", "X", "wrong", "empty", "methods"), CASES, ids=IDS)
def test_init_only_stores_its_arguments(est, X, wrong, empty, methods) -> None:
    cls = type(est)
    assert isinstance(est, BaseEstimator)
    params = inspect.signature(cls.__init__).parameters
    assert all(
        p.kind is not p.VAR_POSITIONAL and p.kind is not p.VAR_KEYWORD for p in params.values()
    )
    # nothing is validated or computed in __init__: odd values are stored as given
    odd = {name: object() for name in params if name != "self"}
    built = cls(**odd)
    assert vars(built) == odd
    assert set(est.get_params()) == set(odd)


@pytest.mark.parametrize(("est", "X", "wrong", "empty", "methods"), CASES, ids=IDS)
def test_get_params_set_params_round_trip(est, X, wrong, empty, methods) -> None:
    params = est.get_params()
    other = clone(est)
    assert other is not est and other.get_params() == params
    assert other.set_params(**params) is other and other.get_params() == params
    name = next(iter(params))
    other.set_params(**{name: "changed"})
    assert other.get_params()[name] == "changed" and est.get_params()[name] == params[name]
    assert type(est).__name__ in repr(est)


@pytest.mark.parametrize(("est", "X", "wrong", "empty", "methods"), CASES, ids=IDS)
def test_fit_returns_self_and_learns_underscore_attributes(est, X, wrong, empty, methods) -> None:
    est = clone(est)
    before = set(vars(est))
    assert not _fitted(est)
    params = est.get_params()
    assert est.fit(X) is est
    assert est.get_params() == params  # fit does not touch the hyperparameters
    new = set(vars(est)) - before
    assert new and all(k.endswith("_") or k.startswith("_") for k in new), sorted(new)
    assert _fitted(est)


@pytest.mark.parametrize(("est", "X", "wrong", "empty", "methods"), CASES, ids=IDS)
def test_fit_validates_its_input(est, X, wrong, empty, methods) -> None:
    for bad in wrong:
        with pytest.raises(TypeError):
            clone(est).fit(bad)
    with pytest.raises(ValueError, match="empty|no nodes"):
        clone(est).fit(empty)


@pytest.mark.parametrize(("est", "X", "wrong", "empty", "methods"), CASES, ids=IDS)
def test_methods_need_a_fit(est, X, wrong, empty, methods) -> None:
    fresh, fitted = clone(est), clone(est).fit(X)
    for name, args in methods:
        with pytest.raises(NotFittedError):
            getattr(fresh, name)(*args)
        getattr(fitted, name)(*args)


@pytest.mark.parametrize(("est", "X", "wrong", "empty", "methods"), CASES, ids=IDS)
def test_same_random_state_same_result(est, X, wrong, empty, methods) -> None:
    a, b = _fitted(clone(est).fit(X)), _fitted(clone(est).fit(X))
    assert a.keys() == b.keys()
    for k in a:
        assert _same(a[k], b[k]), k


def test_random_state_is_the_seed_of_infomap() -> None:
    """InfoMap's `random_state` is what `infomap(graph, seed=...)` passes on."""
    from kexue.graph import infomap

    g = nx.les_miserables_graph()
    est = InfoMap(random_state=3).fit(g)
    assert infomap(g, seed=3) == est.partition_
    assert "seed" not in est.get_params() and est.get_params()["random_state"] == 3


def test_fitted_results_match_the_function_forms() -> None:
    """The estimators are twins of the plain functions (sklearn's rule 11 in specs/style.md)."""
    from kexue.text import cohesion_lexicon, count_ngrams, mep_lexicon, segment

    assert NgramCounter(n=2).fit(TEXTS).to_dict() == count_ngrams(TEXTS, 2)
    assert (
        CohesionLexicon(n=3, min_count=2).fit(TEXTS).lexicon_ == cohesion_lexicon(TEXTS, 3, 2)[0]
    )
    assert MinEntropyLexicon(min_count=2).fit(TEXTS).lexicon_ == mep_lexicon(TEXTS, 2)[0]
    lex = Counter({"我们": 3, "的": 5, "工作": 2})
    assert UnigramSegmenter().fit(lex).segment("我们的工作") == segment("我们的工作", lex)
