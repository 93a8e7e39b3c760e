"""Decoding: greedy = beam 1, exhaustive beam = brute-force argmax, stop policies, sampling."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from kexue.seq import (
    beam_search,
    bidirectional_beam_search,
    greedy_search,
    reorder_state,
    sample,
    top_k_top_p_filter,
)

V, END, START = 4, 0, 3  # tiny vocabulary: token 0 ends, 3 starts (banned afterwards)


def markov(seed: int, v: int = V) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(v, v, generator=g).mul(2).log_softmax(-1).double()


def step_for(table: torch.Tensor):
    def step(tokens, state):
        return table[tokens[:, -1]], state

    return step


def brute_force(table: torch.Tensor, max_len: int, banned=(START,)):
    """Best (tokens, score, finished) over every sequence of ≤ max_len tokens."""
    best = (None, -math.inf, False)
    allowed = [v for v in range(V) if v not in banned]
    for n in range(1, max_len + 1):
        for seq in itertools.product(allowed, repeat=n):
            if END in seq[:-1]:
                continue
            prev, score = START, 0.0
            for tok in seq:
                score += float(table[prev, tok])
                prev = tok
            finished = seq[-1] == END
            if not finished and n < max_len:
                continue  # unfinished hypotheses only count at max_len
            if score > best[1]:
                best = (list(seq[:-1]) if finished else list(seq), score, finished)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_beam_one_is_greedy(seed):
    step = step_for(markov(seed))
    g = greedy_search(step, [START], 6, END, banned=[START])
    b = beam_search(step, [START], 1, 6, END, banned=[START])
    assert (g.tokens, g.finished) == (b.tokens, b.finished)
    assert g.score == pytest.approx(b.score)


@pytest.mark.parametrize("seed", range(8))
def test_exhaustive_beam_is_the_global_argmax(seed):
    t = 4
    table = markov(seed)
    tokens, score, finished = brute_force(table, t)
    h = beam_search(step_for(table), [START], V**t, t, END, banned=[START], stop="complete")
    assert h.score == pytest.approx(score)
    assert (h.tokens, h.finished) == (tokens, finished)


def test_first_best_drops_finished_hypotheses_and_can_miss_the_argmax():
    """The reference policy loses finished non-best beams (spec §11): never above the argmax,
    strictly below it on some toy Markov LMs, and equal to it when it stops early."""
    t, gaps = 4, []
    for seed in range(8):
        table = markov(seed)
        best = brute_force(table, t)[1]
        h = beam_search(step_for(table), [START], V**t, t, END, banned=[START], stop="first_best")
        assert h.score <= best + 1e-9
        gaps.append(best - h.score)
    assert max(gaps) > 1e-3 and min(gaps) < 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_complete_policy_never_scores_below_first_best(seed):
    table = markov(seed, v=6)
    step = step_for(table)
    a = beam_search(step, [START], 2, 8, END, banned=[START], stop="first_best")
    b = beam_search(step, [START], 2, 8, END, banned=[START], stop="complete")
    assert b.score >= a.score - 1e-9


def test_min_len_delays_the_end_token():
    table = torch.full((V, V), -5.0).double()
    table[:, END] = -0.01  # the model wants to stop at once
    h = beam_search(step_for(table), [START], 2, 6, END, banned=[START], min_len=3)
    assert len(h.tokens) >= 3 and h.finished


def test_state_is_reordered_by_parent_beam():
    """The state a step returns (here: the prefix sum it saw) comes back indexed like the beams."""
    table = markov(1, v=5)
    calls = []

    def step(tokens, state):
        if state is not None:
            assert torch.equal(state["sum"], tokens[:, 1:-1].sum(1))
            calls.append(len(tokens))
        return table[tokens[:, -1]], {"sum": tokens[:, 1:].sum(1)}

    beam_search(step, [4], 3, 6, END, banned=[4], stop="complete")
    assert calls  # the check ran
    state = (torch.arange(3), [torch.arange(3) * 2])
    assert reorder_state(state, torch.tensor([2, 0]))[1][0].tolist() == [4, 0]


def test_top_k_one_is_greedy_and_top_p_keeps_the_nucleus():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert torch.isfinite(top_k_top_p_filter(logits, top_k=1)).tolist() == [
        [False, True, False, False]
    ]
    p = logits.softmax(-1)[0]  # ≈ [.09, .64, .24, .03]
    kept = torch.isfinite(top_k_top_p_filter(logits, top_p=0.7))[0].tolist()
    assert kept == [False, True, True, False]  # .64 < .7, crossing token .24 kept
    assert p[1] < 0.7 <= p[1] + p[2]


def test_top_p_sampling_matches_the_renormalised_nucleus():
    """Chi-square test: one-step sampling frequencies = the nucleus probabilities renormalised."""
    probs = torch.tensor([0.05, 0.4, 0.3, 0.15, 0.1])
    table = probs.log()[None].repeat(6, 1)
    n = 4000
    hyps = sample(step_for(table), [5], n, 1, END, torch.Generator().manual_seed(0), top_p=0.8)
    counts = torch.bincount(
        torch.tensor([h.tokens[0] if h.tokens else END for h in hyps]), minlength=5
    )
    assert counts[0] == 0 and counts[4] == 0  # outside the nucleus {1, 2, 3}
    expected = probs[1:4] / probs[1:4].sum() * n
    chi2 = float(((counts[1:4] - expected) ** 2 / expected).sum())
    assert chi2 < 13.8  # χ²(2) at p = 0.001


def test_sampling_at_low_temperature_is_greedy():
    table = markov(3)
    step = step_for(table)
    g = greedy_search(step, [START], 5, END, banned=[START])
    hyps = sample(
        step,
        [START],
        5,
        5,
        END,
        torch.Generator().manual_seed(0),
        temperature=1e-4,
        banned=[START],
    )
    assert all(h.tokens == g.tokens for h in hyps)


def test_bidirectional_directions_agree_on_a_consistent_pair():
    """L2R generates y, R2L generates reverse(y): the joint search returns y whichever wins."""
    y = [5, 7, 4, 6]
    v = 8
    nxt_l = {2: y[0], **{a: b for a, b in zip(y, y[1:], strict=False)}, y[-1]: 3}
    r = y[::-1]
    nxt_r = {3: r[0], **{a: b for a, b in zip(r, r[1:], strict=False)}, r[-1]: 2}

    def table(nxt):
        t = torch.full((v, v), math.log(0.02))
        for a, b in nxt.items():
            t[a, b] = 0.0
        return t.log_softmax(-1)

    tl, tr = table(nxt_l), table(nxt_r)

    def step(L, R):
        return tl[L[:, -1]], tr[R[:, -1]]

    h, winner = bidirectional_beam_search(
        step, 3, 10, (2, 3), (3, 2), banned_l2r=(0, 1, 2), banned_r2l=(0, 1, 3)
    )
    assert h.tokens == y and h.finished


def test_bidirectional_follows_the_confident_direction():
    """A confident L2R model and a uniform R2L one: the result is L2R's greedy sequence."""
    v = 8
    table = markov(5, v=v)
    table[:, 3] = table[:, 3] + 1.0  # end reachable
    table = table.log_softmax(-1)
    uniform = torch.full((v, v), -math.log(v)).double()

    def step(L, R):
        return table[L[:, -1]], uniform[R[:, -1]]

    h, winner = bidirectional_beam_search(step, 1, 6, (2, 3), (3, 2))
    g = greedy_search(lambda t, s: (table[t[:, -1]], s), [2], 6, 3)
    assert winner == "l2r" and h.tokens == g.tokens


def test_bidirectional_l2r_probability_is_the_mean_over_r2l_paths():
    """The article: each L2R candidate's probability is averaged over the k R2L paths."""
    v = 6

    def probs(table):
        return torch.tensor([table.get(i, 0.0) for i in range(v)]).log()

    def step(L, R):
        t = L.shape[1]
        lp_l, lp_r = [], []
        for r_last in R[:, -1].tolist():
            if t == 1:
                lp_l.append(probs({3: 0.05, 4: 0.9, 5: 0.05}))
                lp_r.append(probs({2: 0.05, 4: 0.5, 5: 0.45}))
            else:  # L2R's end depends on the R2L path it reads: 0.8 after 4, 0.2 after 5
                end = 0.8 if r_last == 4 else 0.2
                lp_l.append(probs({3: end, 4: (1 - end) / 2, 5: (1 - end) / 2}))
                lp_r.append(probs({2: 1 / 3, 4: 1 / 3, 5: 1 / 3}))
        return torch.stack(lp_l), torch.stack(lp_r)

    h, winner = bidirectional_beam_search(
        step, 2, 4, (2, 3), (3, 2), banned_l2r=(0, 1, 2), banned_r2l=(0, 1, 3)
    )
    # R2L keeps the paths [4] and [5]; L2R ends after [4] with p = (0.8 + 0.2) / 2
    assert winner == "l2r" and h.tokens == [4] and h.finished
    assert h.score == pytest.approx(math.log(0.9) + math.log(0.5), abs=1e-5)
