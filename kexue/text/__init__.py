"""Theme: text — n-gram counting, word discovery, segmentation, templates, word vectors."""

from kexue.text.ngrams import (
    NgramCounter,
    NgramTable,
    count_ngrams,
    count_ngrams_dask,
    count_ngrams_table,
    split_chunks,
)

__all__ = [
    "NgramCounter",
    "NgramTable",
    "count_ngrams",
    "count_ngrams_dask",
    "count_ngrams_table",
    "split_chunks",
]
