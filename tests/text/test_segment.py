"""UnigramSegmenter's word bonus (ln p(w) + bonus(w), e.g. the nVBE autonomy term)."""

from __future__ import annotations

import pytest
from sklearn.exceptions import NotFittedError

from kexue.text import UnigramSegmenter


def test_a_word_bonus_flips_the_decision():
    lex = {"甲乙": 1, "甲": 10, "乙": 10}
    # ln(1/21) = −3.04 loses to 2 ln(10/21) = −1.48; a bonus of 2 on 甲乙 makes it win
    assert UnigramSegmenter().fit(lex).segment("甲乙") == ["甲", "乙"]
    assert UnigramSegmenter(word_bonus={"甲乙": 2.0}).fit(lex).segment("甲乙") == ["甲乙"]
    # a negative bonus pushes the other way; words outside the lexicon are not added
    lex = {"甲乙": 5, "甲": 1, "乙": 1}
    seg = UnigramSegmenter(word_bonus={"甲乙": -5.0, "丙丙": 9.0}).fit(lex)
    assert UnigramSegmenter().fit(lex).segment("甲乙") == ["甲乙"]
    assert seg.segment("甲乙丙丙") == ["甲", "乙", "丙", "丙"]


def test_no_bonus_is_the_plain_unigram_model():
    lex = {"我们": 10, "学生": 8, "是": 5, "我": 3, "们": 1}
    plain = UnigramSegmenter().fit(lex)
    empty = UnigramSegmenter(word_bonus={}).fit(lex)
    assert plain.logp_ == empty.logp_
    assert plain.segment("我们是学生") == ["我们", "是", "学生"]


def test_unfitted_segmenter_is_named():
    with pytest.raises(NotFittedError, match="fit"):
        UnigramSegmenter().segment("我们")
