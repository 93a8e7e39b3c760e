"""Exact n-gram counts: packed numpy counter and Dask counter against collections.Counter."""

from __future__ import annotations

import collections
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kexue.text import count_ngrams, count_ngrams_dask, count_ngrams_table, split_chunks


def brute(texts, n, min_count=1):
    c = collections.Counter()
    for text in texts:
        for chunk in split_chunks(text):
            for k in range(1, n + 1):
                for i in range(len(chunk) - k + 1):
                    c[chunk[i : i + k]] += 1
    mins = [min_count] * n if isinstance(min_count, int) else min_count
    return {g: v for g, v in c.items() if v >= mins[len(g) - 1]}


def test_chunking_rules():
    # full-width digits become ASCII (NFKC), U+3000 and punctuation are boundaries
    assert split_chunks("１９９８年，新年\u3000好！abc") == ["1998年", "新年", "好", "abc"]
    counts = count_ngrams(["哈哈哈。哈哈"], 3)
    assert counts == {"哈": 5, "哈哈": 3, "哈哈哈": 1}  # no gram crosses "。", no padding


@given(
    st.lists(st.text(alphabet="的是一国人中，。ab１ 　", min_size=0, max_size=30), max_size=8),
    st.integers(1, 4),
    st.integers(1, 3),
)
def test_equals_counter(texts, n, min_count):
    assert count_ngrams(texts, n, min_count) == brute(texts, n, min_count)


def test_per_order_min_count_and_apriori(peoples_small):
    mins = [3, 2, 2, 5]
    assert count_ngrams(peoples_small, 4, mins) == brute(peoples_small, 4, mins)


def test_shards_merge_exactly(peoples_small):
    one = count_ngrams_table(peoples_small, 3, 2)
    many = count_ngrams_table(peoples_small, 3, 2, shard_chars=500)
    assert one.to_dict() == many.to_dict()
    assert all(np.all(np.diff(k.astype(np.float64)) > 0) for k in many.keys)  # sorted, unique


def test_lookup_and_count(peoples_small):
    tab = count_ngrams_table(peoples_small, 3)
    ref = brute(peoples_small, 3)
    for gram in ["的", "中国", "人民", "不存在的词", "x"]:
        assert tab.count(gram) == ref.get(gram, 0)


def test_too_many_types_for_packing():
    text = "".join(chr(0x4E00 + i) for i in range(70_000 % 20_000 + 20_000))  # 20k types
    with pytest.raises(ValueError, match="64-bit"):
        count_ngrams_table([text], 5)


@pytest.fixture(scope="module")
def peoples_small():
    from kexue.data import peoples_daily

    return peoples_daily().texts[:400]


def test_dask_two_workers_equals_local(peoples_small):
    db = importlib.import_module("dask.bag")
    distributed = importlib.import_module("distributed")
    texts = peoples_small
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster):
            bag = db.from_sequence(texts, npartitions=6)
            table = count_ngrams_dask(bag, 4, [2, 2, 2, 2])
    assert table.to_dict() == count_ngrams(texts, 4, 2) == brute(texts, 4, 2)


def test_a_bare_str_is_refused_by_the_counters_and_the_segmenter():
    from kexue.text import NgramCounter, UnigramSegmenter, count_ngrams

    with pytest.raises(TypeError, match="splitlines"):
        count_ngrams("abab", 2)
    with pytest.raises(TypeError, match="splitlines"):
        NgramCounter(n=2).fit("abab")
    seg = UnigramSegmenter().fit({"ab": 3})
    with pytest.raises(TypeError, match="splitlines"):
        seg.transform("abab")
    assert count_ngrams(["abab"], 2)["ab"] == 2


def test_streamed_counts_equal_the_in_memory_table(peoples_small):
    from kexue.text.ngrams import count_ngrams_stream

    streamed = count_ngrams_stream(lambda: iter(peoples_small), 4, [1, 2, 2, 2], shard_chars=5000)
    assert streamed.to_dict() == count_ngrams(peoples_small, 4, [1, 2, 2, 2])
    pruned = count_ngrams_stream(
        lambda: iter(peoples_small), 4, 1, shard_chars=5000, prune_above=2000, prune_min=2
    ).to_dict()
    exact = count_ngrams(peoples_small, 4, 1)
    assert set(pruned) <= set(exact) and len(pruned) < len(exact)
    assert all(pruned[g] <= exact[g] for g in pruned)  # pruning only ever loses counts
    assert all(pruned[g] == exact[g] for g in exact if len(g) == 1)  # characters stay exact
