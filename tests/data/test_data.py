"""Offline data loaders: counts, fixed disjoint splits, formats, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from kexue.data import (
    DIGIT_LEVELS,
    TOY2D,
    DataFormatError,
    couplets,
    csl_split,
    csl_titles,
    dequantize,
    digits,
    mode_centres,
    mode_std,
    parse_tagged_line,
    peoples_daily,
    reviews,
    shared_data_dir,
    toy2d,
)


@pytest.mark.parametrize("name", TOY2D)
def test_toy2d_shape_dtype_and_seeding(name):
    a, b, c = toy2d(name, 500, seed=1), toy2d(name, 500, seed=1), toy2d(name, 500, seed=2)
    assert a.shape == (500, 2) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.isfinite(a).all()


@pytest.mark.parametrize(
    "name", ["eight_gaussians", "twentyfive_gaussians", "wide_eight_gaussians"]
)
def test_mixtures_sit_on_their_modes(name):
    centres, std = mode_centres(name), mode_std(name)
    x = toy2d(name, 4000, seed=0)
    d = np.linalg.norm(x[:, None] - centres[None], axis=-1).min(1)
    # Distance of a 2-D Gaussian point to its centre is Rayleigh(σ): P(d > 5σ) = e^{-12.5}.
    assert (d < 5 * std).mean() > 0.999
    counts = np.bincount(np.linalg.norm(x[:, None] - centres[None], axis=-1).argmin(1))
    assert len(counts) == len(centres) and counts.min() > 0.5 * len(x) / len(centres)


def test_mode_geometry_matches_the_definitions():
    ring = mode_centres("eight_gaussians")
    assert np.allclose(np.linalg.norm(ring, axis=1), 2.0)
    grid = mode_centres("twentyfive_gaussians")
    assert sorted(set(grid[:, 0])) == [-2, -1, 0, 1, 2] and len(grid) == 25
    assert mode_std("eight_gaussians") == 0.02 and mode_std("twentyfive_gaussians") == 0.05
    assert mode_centres("swiss_roll") is None


def test_stratified_sampling_gives_equal_counts():
    x = toy2d("twentyfive_gaussians", 250, seed=0, stratified=True)
    nearest = np.linalg.norm(x[:, None] - mode_centres("twentyfive_gaussians")[None], axis=-1)
    assert np.array_equal(np.bincount(nearest.argmin(1)), np.full(25, 10))
    with pytest.raises(ValueError, match="divisible by 25"):
        toy2d("twentyfive_gaussians", 26, stratified=True)


def test_checkerboard_is_uniform_on_eight_squares():
    x = toy2d("checkerboard", 20000, seed=0)
    assert np.abs(x).max() <= 4.0
    cells = np.floor(x / 2).astype(int)  # squares of side 2 on [-4, 4]^2
    black = (cells[:, 0] + cells[:, 1]) % 2
    assert len(set(black)) == 1  # only one colour is occupied
    occupied = {tuple(c) for c in cells}
    assert len(occupied) == 8


def test_unknown_toy_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid: eight_gaussians"):
        toy2d("nine_gaussians", 3)


def test_digits_split_fixed_stratified_disjoint():
    train, test = digits("train"), digits("test")
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert not set(train.index) & set(test.index)
    assert train.images.shape[1:] == (8, 8) and train.images.max() == DIGIT_LEVELS - 1
    assert np.array_equal(digits("test").index, test.index)
    assert np.all(np.bincount(test.labels) >= 35)  # stratified: about 36 per class
    with pytest.raises(ValueError, match="valid: train, test, all"):
        digits("val")


def test_dequantize_stays_in_its_bin():
    img = digits("test").images
    x = dequantize(img, np.random.default_rng(0))
    assert x.min() >= 0 and x.max() < 1
    assert np.array_equal(np.floor(x * DIGIT_LEVELS).astype(int), img)
    assert np.allclose(dequantize(img), (img + 0.5) / DIGIT_LEVELS)


@pytest.fixture(scope="module")
def corpus():
    return peoples_daily()


def test_peoples_daily_counts_and_splits(corpus):
    assert len(corpus) == 19484
    train, test = corpus.split("train"), corpus.split("test")
    assert len(train) + len(test) == len(corpus)
    assert not {s.line for s in train} & {s.line for s in test}
    assert [s.line for s in corpus.split("test")] == [s.line for s in test]
    first = corpus.sentences[0]
    assert first.words[:2] == ("迈向", "充满") and first.tags[:2] == ("v", "v")
    assert corpus.texts[0].startswith("迈向充满希望的新世纪")


def test_entities_join_surname_and_given_name(corpus):
    s = corpus.sentences[1]  # 中共中央/nt 总书记/n 、/w 国家/n 主席/n 江/nr 泽民/nr
    spans = [(s.text[a:b], kind) for a, b, kind in s.entities]
    assert spans == [("中共中央", "ORG"), ("江泽民", "PER")]


def test_malformed_tagged_line_names_source_and_line():
    with pytest.raises(
        DataFormatError, match=r"corpus\.txt, line 7: token '迈向' is not word/TAG"
    ):
        parse_tagged_line("迈向 充满/v", 7, "corpus.txt")


def test_peoples_daily_from_a_bad_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("好/a  人/n\n\n坏\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="bad.txt, line 3"):
        peoples_daily(path)


def test_reviews_counts_and_split():
    items = reviews()
    assert len(items) == 16548 + 18576
    assert sum(label for _, label in items) == 16548
    train, test = reviews("train"), reviews("test")
    assert len(train) + len(test) == len(items)
    assert len(test) == round(0.1 * len(items))


needs_shared = pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data is absent")


@needs_shared
def test_couplets_and_csl_from_the_shared_folder():
    pairs = couplets()
    assert len(pairs) == 3834
    assert all(len(a) == len(b) for a, b in pairs)
    assert pairs[1] == ("风弦未拨心先乱", "夜幕已沉梦更闲")
    rows = csl_titles(split="dev")
    assert len(rows) == 1000 and all(abstract and title for abstract, title in rows)


def test_couplets_mismatch_names_file_and_line(tmp_path):
    (tmp_path / "in.txt").write_text("春 风\n花 开 了\n", encoding="utf-8")
    (tmp_path / "out.txt").write_text("秋 雨\n鸟 鸣\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"out\.txt, line 2: 2 characters"):
        couplets(tmp_path)


def test_missing_data_asks_for_data_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        couplets(tmp_path / "nowhere")


def test_csl_bad_row_names_line(tmp_path):
    (tmp_path / "dev.tsv").write_text(
        "to title\tabstract\ttitle\nonly one column\n", encoding="utf-8"
    )
    with pytest.raises(DataFormatError, match=r"dev\.tsv, line 2: expected 3"):
        csl_titles(tmp_path)


def _write_csl(folder, names, rows):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        lines = [f"t\t{name} abstract {i}\t{name} title {i}\n" for i in range(rows)]
        (folder / f"{name}.tsv").write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("n_eval", [0, 3, 60, 200])
def test_csl_split_parts_never_overlap(tmp_path, n_eval):
    _write_csl(tmp_path, ["dev", "test"], 250)
    train, held = csl_split(tmp_path, n_eval)
    assert held == csl_titles(tmp_path, "test")[:n_eval]
    assert len(train) == 250 + 50 and not set(train) & set(held)
    # a single file stands for both splits: still disjoint
    train, held = csl_split(tmp_path / "test.tsv", n_eval)
    assert len(held) == n_eval and len(train) == 50 and not set(train) & set(held)


def test_csl_split_guard_names_both_numbers(tmp_path):
    _write_csl(tmp_path, ["dev", "test"], 10)
    with pytest.raises(ValueError, match=r"n_eval = 300 .*\b200\b"):
        csl_split(tmp_path, 300)
    with pytest.raises(ValueError, match=r"n_eval = 6 .*\b5\b"):
        csl_split(tmp_path, 6, held_out=5)


@needs_shared
def test_csl_split_on_the_shared_data_holds_out_200_test_pairs():
    train, held = csl_split(n_eval=200)
    assert (len(train), len(held)) == (1800, 200) and not set(train) & set(held)
