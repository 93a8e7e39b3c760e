"""Offline data: 2-D toys, sklearn's digits, People's Daily, reviews, couplets, CSL titles."""

from kexue.data.corpora import (
    DataFormatError,
    PeoplesDaily,
    TaggedSentence,
    couplets,
    csl_titles,
    parse_tagged_line,
    peoples_daily,
    reviews,
    shared_data_dir,
)
from kexue.data.dependence import DEPENDENCE_SIMS, dependence_sim
from kexue.data.images import DIGIT_LEVELS, Digits, dequantize, digits
from kexue.data.toy2d import TOY2D, mode_centres, mode_std, toy2d

__all__ = [
    "DEPENDENCE_SIMS",
    "DIGIT_LEVELS",
    "TOY2D",
    "DataFormatError",
    "Digits",
    "PeoplesDaily",
    "TaggedSentence",
    "couplets",
    "csl_titles",
    "dependence_sim",
    "dequantize",
    "digits",
    "mode_centres",
    "mode_std",
    "parse_tagged_line",
    "peoples_daily",
    "reviews",
    "shared_data_dir",
    "toy2d",
]
