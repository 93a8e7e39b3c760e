"""CRF: log-partition, gold score and Viterbi against brute-force enumeration; padding; the
learning-rate multiplier."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.bert import CRF


def _brute(e, T, n):
    scores = {}
    for y in itertools.product(range(e.shape[1]), repeat=n):
        s = sum(e[t, y[t]] for t in range(n)) + sum(T[y[t - 1], y[t]] for t in range(1, n))
        scores[y] = s
    return scores


@given(st.integers(1, 5), st.integers(2, 4), st.integers(0, 1000))
def test_log_partition_and_viterbi_brute_force(length, k, seed):
    torch.manual_seed(seed)
    crf = CRF(k, lr_multiplier=3.0).double()
    with torch.no_grad():
        crf.theta.normal_()
    e = torch.randn(2, 5, k, dtype=torch.float64)
    mask = torch.zeros(2, 5, dtype=torch.long)
    mask[0, :length] = 1
    mask[1, :] = 1
    logz = crf.log_partition(e, mask)
    paths = crf.viterbi(e, mask)
    T = crf.transitions.detach()
    for b, n in ((0, length), (1, 5)):
        scores = _brute(e[b], T, n)
        want = torch.logsumexp(torch.stack(list(scores.values())), 0)
        assert torch.allclose(logz[b], want, atol=1e-9)
        best = max(scores, key=lambda y: float(scores[y]))
        assert tuple(paths[b]) == best
        labels = torch.zeros(1, 5, dtype=torch.long)
        labels[0, :n] = torch.tensor(best)
        got = crf.score(e[b : b + 1], labels, mask[b : b + 1])[0]
        assert torch.allclose(got, scores[best], atol=1e-9)


@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=5),
    st.integers(2, 3),
    st.integers(0, 1000),
    st.sampled_from([None, 0, 1]),
)
def test_batched_viterbi_is_the_brute_force_argmax_of_every_row(lengths, k, seed, force_first):
    """Rows of different lengths decoded together (one backtrace for the whole batch), with and
    without a pinned first label, each against enumeration over its own real length."""
    torch.manual_seed(seed)
    crf = CRF(k, lr_multiplier=2.0).double()
    with torch.no_grad():
        crf.theta.normal_()
    e, _, mask = _random_batch(seed, k, lengths)
    paths = crf.viterbi(e, mask, force_first=force_first)
    T = crf.transitions.detach()
    for b, n in enumerate(lengths):
        scores = _brute(e[b], T, n)
        if force_first is not None:
            scores = {y: v for y, v in scores.items() if y[0] == force_first}
        assert tuple(paths[b]) == max(scores, key=lambda y: float(scores[y]))


def test_nll_is_a_normalised_negative_log_probability():
    crf = CRF(3).double()
    e = torch.randn(1, 3, 3, dtype=torch.float64)
    mask = torch.ones(1, 3, dtype=torch.long)
    total = sum(
        torch.exp(-crf.nll(e, torch.tensor([y]), mask))
        for y in itertools.product(range(3), repeat=3)
    )
    assert torch.allclose(total, torch.tensor(1.0, dtype=torch.float64), atol=1e-9)


def test_force_first_label():
    crf = CRF(3)
    e = torch.randn(1, 4, 3)
    e[0, 0, 2] = 50.0
    assert crf.viterbi(e, torch.ones(1, 4), force_first=0)[0][0] == 0


def test_lr_multiplier_reparameterisation():
    torch.manual_seed(0)
    a = CRF(4, lr_multiplier=1.0)
    torch.manual_seed(0)
    b = CRF(4, lr_multiplier=100.0)
    assert torch.allclose(a.transitions, b.transitions)  # same function at init
    e, y, m = torch.randn(2, 5, 4), torch.randint(0, 4, (2, 5)), torch.ones(2, 5)
    for crf in (a, b):
        crf.nll(e, y, m).backward()
    # dT/dθ = 100: an SGD step of lr on θ moves T by 100² · lr · ∂L/∂T
    assert torch.allclose(b.theta.grad, 100 * a.theta.grad, atol=1e-5)


# ----------------------------------------------------------------------------- forward
def _random_batch(seed, k, lengths, pad_tag=-100):
    g = torch.Generator().manual_seed(seed)
    b, n = len(lengths), max(lengths)
    e = torch.randn(b, n, k, generator=g, dtype=torch.float64)
    tags = torch.randint(0, k, (b, n), generator=g)
    mask = (torch.arange(n)[None] < torch.tensor(lengths)[:, None]).long()
    return e, tags.masked_fill(mask == 0, pad_tag), mask


@given(
    st.integers(2, 3),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(0, 1000),
    st.sampled_from([-100, 0, 7]),
)
def test_forward_equals_brute_force_nll(k, lengths, seed, pad_tag):
    torch.manual_seed(seed)
    crf = CRF(k, lr_multiplier=2.0).double()
    with torch.no_grad():
        crf.theta.normal_()
    e, tags, mask = _random_batch(seed, k, lengths, pad_tag)
    got = crf(e, tags, mask, reduction="none")
    T = crf.transitions.detach()
    for b, n in enumerate(lengths):
        scores = _brute(e[b], T, n)
        logz = torch.logsumexp(torch.stack(list(scores.values())), 0)
        want = logz - scores[tuple(tags[b, :n].tolist())]
        assert torch.allclose(got[b], want, atol=1e-9)
    if pad_tag == -100:  # the mask is implied by the -100 tags
        assert torch.allclose(crf(e, tags, reduction="none"), got, atol=1e-12)


def test_reductions_relate():
    crf = CRF(4).double()
    lengths = [5, 2, 3]
    e, tags, mask = _random_batch(0, 4, lengths)
    per_seq = crf(e, tags, mask, reduction="none")
    assert per_seq.shape == (3,)
    assert torch.allclose(crf(e, tags, mask, reduction="sum"), per_seq.sum())
    assert torch.allclose(crf(e, tags, mask, reduction="mean"), per_seq.mean())
    assert torch.allclose(crf(e, tags, mask), per_seq.mean())  # mean is the default
    assert torch.allclose(crf(e, tags, mask, reduction="token_mean"), per_seq.sum() / 10)
    assert torch.allclose(crf.nll(e, tags, mask), per_seq.mean())
    with pytest.raises(ValueError, match="reduction must be one of"):
        crf(e, tags, mask, reduction="avg")


def test_mask_none_means_every_position_is_real():
    crf = CRF(3)
    e, y = torch.randn(2, 4, 3), torch.randint(0, 3, (2, 4))
    assert torch.allclose(crf(e, y), crf(e, y, torch.ones(2, 4, dtype=torch.bool)))
    assert crf.viterbi(e) == crf.viterbi(e, torch.ones(2, 4))


def test_minus_100_tags_must_agree_with_a_given_mask():
    crf = CRF(3)
    e, tags, mask = _random_batch(1, 3, [4, 2])
    e = e.float()
    ok = crf(e, tags, mask)  # -100 only at padding: accepted
    assert torch.allclose(ok, crf(e, tags.clamp(min=0), mask))
    junk = tags.masked_fill(mask == 0, 9)  # any value at padding, even out of range
    assert torch.allclose(crf.score(e, tags, mask), crf.score(e, junk, mask))
    tags[1, 1] = -100  # now -100 where the mask says real
    with pytest.raises(ValueError, match=r"disagree.*row 1, position 1"):
        crf(e, tags, mask)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ([[1, 1, 1], [0, 0, 0]], "row 1 is all padding"),
        ([[1, 1, 1], [0, 1, 1]], "row 1 starts with padding \\(left padding\\)"),
        ([[1, 1, 0], [1, 0, 1]], "row 1 has a gap \\(position 1 is padding but position 2"),
    ],
)
def test_bad_masks_are_rejected_with_the_row(mask, message):
    crf = CRF(3)
    e, y, m = torch.randn(2, 3, 3), torch.zeros(2, 3, dtype=torch.long), torch.tensor(mask)
    with pytest.raises(ValueError, match="mask " + message):
        crf(e, y, m)
    with pytest.raises(ValueError, match="mask " + message):
        crf.viterbi(e, m)
    tags = y.masked_fill(m == 0, -100)  # the same mask implied by -100 tags
    with pytest.raises(ValueError, match=r"tags \(-100 = padding\) " + message):
        crf(e, tags)


def test_bad_tags_and_shapes_are_rejected():
    crf = CRF(3)
    e, m = torch.randn(2, 3, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"\[0, 3\).*row 0, position 2 holds 3"):
        crf(e, torch.tensor([[0, 1, 3], [0, 0, 0]]), m)
    with pytest.raises(ValueError, match=r"row 1, position 0 holds -1"):
        crf(e, torch.tensor([[0, 1, 2], [-1, 0, 0]]), m)
    with pytest.raises(ValueError, match="tags must have shape"):
        crf(e, torch.zeros(2, 4, dtype=torch.long), m)
    with pytest.raises(ValueError, match="integer labels"):
        crf(e, torch.zeros(2, 3), m)
    with pytest.raises(ValueError, match="emissions must have shape"):
        crf(torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.long), m)
    with pytest.raises(ValueError, match="only 0/1"):
        crf(e, torch.zeros(2, 3, dtype=torch.long), torch.full((2, 3), 0.5))


def test_forward_gradient_flows_to_emissions_and_transitions():
    crf = CRF(3)
    e, tags, mask = _random_batch(2, 3, [3, 1])
    e = e.float().requires_grad_(True)
    crf(e, tags, mask, reduction="token_mean").backward()
    assert e.grad is not None and crf.theta.grad is not None
    assert torch.all(e.grad[1, 1:] == 0)  # padding gets no gradient
