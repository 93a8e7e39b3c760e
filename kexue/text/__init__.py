"""Theme: text — n-gram counting, word discovery, segmentation, templates, word vectors.

`kexue.text.word_vectors` (torch) is not imported here; import it explicitly.
"""

from kexue.text.evaluate import bits_per_char, cws_scores, lexicon_scores
from kexue.text.ngrams import (
    NgramCounter,
    NgramTable,
    count_ngrams,
    count_ngrams_dask,
    count_ngrams_table,
    split_chunks,
)
from kexue.text.segment import (
    NUMBER,
    UnigramSegmenter,
    mask_numbers,
    segment,
    unmask_numbers,
)
from kexue.text.templates import TemplateFinder, TemplateParser
from kexue.text.word_discovery import (
    CohesionLexicon,
    MinEntropyLexicon,
    cohesion_lexicon,
    discover_words,
    mep_lexicon,
    refine_lexicon,
)

__all__ = [
    "NUMBER",
    "CohesionLexicon",
    "MinEntropyLexicon",
    "NgramCounter",
    "NgramTable",
    "TemplateFinder",
    "TemplateParser",
    "UnigramSegmenter",
    "bits_per_char",
    "cohesion_lexicon",
    "count_ngrams",
    "count_ngrams_dask",
    "count_ngrams_table",
    "cws_scores",
    "discover_words",
    "lexicon_scores",
    "mask_numbers",
    "mep_lexicon",
    "refine_lexicon",
    "segment",
    "split_chunks",
    "unmask_numbers",
]
