"""ON-LSTM: cumax, master gates, the hard cases, distances, tree induction and bracket F1."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.nn import (
    ONLSTM,
    ONLSTMCell,
    build_tree,
    cumax,
    right_branching,
    tree_brackets,
    unlabeled_f1,
)


@given(st.lists(st.floats(-20, 20), min_size=1, max_size=12))
def test_cumax_is_non_decreasing_in_unit_interval_ending_at_one(z):
    c = cumax(torch.tensor(z, dtype=torch.float64))
    assert (c.diff() >= -1e-12).all() and (c >= 0).all()
    assert c[-1].item() == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["paper", "article"])
def test_master_gates_are_monotone(mode):
    cell = ONLSTMCell(3, 12, n_levels=4, master_input=mode)
    zf, zi = torch.randn(5, 4), torch.randn(5, 4)
    f, i = cell.master_gates(zf, zi)
    assert (f.diff() >= -1e-6).all() and (i.diff() <= 1e-6).all()
    assert ((-1e-6 <= i) & (i <= 1 + 1e-6)).all()
    # the two forms differ by the own-level softmax term
    other = ONLSTMCell(3, 12, n_levels=4, master_input="article" if mode == "paper" else "paper")
    _, i2 = other.master_gates(zf, zi)
    diff = (i - i2) if mode == "article" else (i2 - i)
    torch.testing.assert_close(diff, zi.softmax(-1))


def _hard(level: int, p: int, big: float = 1e4) -> torch.Tensor:
    z = torch.zeros(1, p)
    z[0, level] = big
    return z


@pytest.mark.parametrize("df,di", [(1, 3), (2, 2), (0, 4), (4, 1), (3, 0)])
def test_soft_update_reproduces_the_hard_cases(df, di):
    """Article's piecewise definition (article master input gate, levels 0-based, chunk 2)."""
    p, q = 5, 2
    cell = ONLSTMCell(1, p * q, n_levels=p, master_input="article")
    f_m, i_m = cell.master_gates(_hard(df, p), _hard(di, p))
    g = torch.Generator().manual_seed(df * 7 + di)
    c_prev, c_hat, f, i = (torch.rand(1, p * q, generator=g) for _ in range(4))
    c = cell.combine(c_prev, f_m, i_m, f, i, c_hat)
    lvl = torch.arange(p).repeat_interleave(q)
    if df <= di:
        want = torch.where(lvl < df, c_hat, torch.where(lvl <= di, f * c_prev + i * c_hat, c_prev))
    else:
        want = torch.where(
            lvl <= di, c_hat, torch.where(lvl < df, torch.zeros_like(c_hat), c_prev)
        )
    torch.testing.assert_close(c, want[0:1], atol=1e-5, rtol=0)


def test_full_master_gates_reduce_to_an_lstm_update():
    p, q = 3, 2
    cell = ONLSTMCell(1, p * q, n_levels=p)
    ones = torch.ones(1, p)
    c_prev, c_hat, f, i = (torch.rand(1, p * q) for _ in range(4))
    torch.testing.assert_close(
        cell.combine(c_prev, ones, ones, f, i, c_hat), f * c_prev + i * c_hat
    )


def test_layer_shapes_distances_and_causality():
    torch.manual_seed(0)
    net = ONLSTM(4, 12, n_levels=3, num_layers=2).eval()
    x = torch.randn(2, 6, 4)
    out, d = net(x)
    assert out.shape == (2, 6, 12) and d.shape == (2, 2, 6)
    assert ((d >= -1e-6) & (d <= 1)).all()
    x2 = x.clone()
    x2[:, 4:] = torch.randn(2, 2, 4)
    out2, d2 = net(x2)
    torch.testing.assert_close(out[:, :4], out2[:, :4])
    torch.testing.assert_close(d[:, :, :4], d2[:, :, :4])
    # one step of the layer equals the cell applied by hand
    cell = net.cells[0]
    h, c, fm = cell(cell.ih(x[:, 0]), (torch.zeros(2, 12), torch.zeros(2, 12)), cell.hh.weight)
    torch.testing.assert_close(d[0, :, 0], 1 - fm.mean(-1))


def test_tree_induction_on_hand_made_distances():
    assert build_tree(list("ab"), [0.1, 0.5]) == ["a", "b"]
    # the largest distance opens a constituent with its right context
    assert build_tree(list("abcd"), [0.0, 0.1, 0.9, 0.2]) == [["a", "b"], ["c", "d"]]
    assert build_tree(list("abcd"), [0.1, 0.9, 0.5, 0.0]) == ["a", ["b", ["c", "d"]]]
    assert build_tree(list("abcd"), [0.5, 0.1, 0.9, 0.0]) == [["a", "b"], ["c", "d"]]
    # decreasing distances give the right-branching tree
    toks = list("abcdef")
    assert build_tree(toks, [6, 5, 4, 3, 2, 1]) == right_branching(toks)


def test_brackets_and_f1():
    tree = [["a", "b"], ["c", ["d", "e"]]]
    assert tree_brackets(tree) == {(0, 2), (2, 5), (3, 5), (0, 5)}
    assert unlabeled_f1(tree_brackets(tree), tree_brackets(tree)) == 1.0
    rb = tree_brackets(right_branching(list("abcde")))
    assert rb == {(0, 5), (1, 5), (2, 5), (3, 5)}
    # shared: (0,5), (2,5), (3,5) → P = R = 3/4
    assert unlabeled_f1(rb, tree_brackets(tree)) == pytest.approx(0.75)
    assert unlabeled_f1({(0, 2)}, {(0, 3), (1, 3)}) == 0.0


def test_master_gates_add_few_parameters():
    # p levels, each repeated over a chunk of q = n/p neurons: the master gates add 2p rows to
    # the LSTM's 4n (one bias per row here; torch's LSTM keeps two bias vectors)
    d, n, p = 32, 128, 16
    on = sum(t.numel() for t in ONLSTMCell(d, n, n_levels=p).parameters())
    lstm = sum(t.numel() for t in torch.nn.LSTM(d, n).parameters())
    assert on - (lstm - 4 * n) == 2 * p * (d + n + 1)
    assert on / lstm < 1.15  # p ≪ n: a few percent more


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=12))
def test_soft_level_is_an_affine_map_of_the_distance(z):
    # Σ_k k·p_f(k) = n(1 − mean f̃) + 1 with p_f = softmax(z), f̃ = cumax(z) (the article's
    # identity; levels k = 1..n)
    z = torch.tensor(z, dtype=torch.float64)
    n = len(z)
    soft_level = float((torch.arange(1, n + 1, dtype=torch.float64) * z.softmax(0)).sum())
    assert soft_level == pytest.approx(n * (1 - float(cumax(z).mean())) + 1, abs=1e-9)
