"""Generation metrics against hand computations (and NLTK when it is installed)."""

from __future__ import annotations

import importlib
import math

import pytest

from kexue.seq import bleu, copy_rate, lcs_length, position_accuracy, rouge_l, rouge_n


def test_rouge_by_hand():
    c, r = list("abcd"), list("abxd")
    assert rouge_n(c, r, 1) == pytest.approx(0.75)
    assert rouge_n(c, r, 2) == pytest.approx(1 / 3)
    assert lcs_length(c, r) == 3 and rouge_l(c, r) == pytest.approx(0.75)
    assert rouge_l(c, c) == 1.0 and rouge_l([], r) == 0.0


def test_bleu_identity_and_brevity_penalty():
    r = list("abcdefg")
    assert bleu(r, r) == pytest.approx(1.0)
    short = list("abcde")
    assert bleu(short, r) == pytest.approx(math.exp(1 - 7 / 5))


def test_bleu_matches_nltk_method1():
    nltk = importlib.import_module("nltk.translate.bleu_score")
    sm = nltk.SmoothingFunction().method1
    for c, r in [("abcdxyz", "abcdefg"), ("aabbcc", "abcabc"), ("我爱北京天安门", "我爱天安门")]:
        ref = nltk.sentence_bleu([list(r)], list(c), smoothing_function=sm)
        assert bleu(list(c), list(r)) == pytest.approx(ref, rel=1e-9)


def test_position_accuracy_and_copy_rate():
    assert position_accuracy(list("abcdefgh"), list("abcdxxxh"), 4) == (1.0, 0.25)
    assert copy_rate(list("abz"), list("xab")) == pytest.approx(2 / 3)
