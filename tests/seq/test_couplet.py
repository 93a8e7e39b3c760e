"""Couplet labeller: output length = input length, receptive field, gate extremes, the prior."""

from __future__ import annotations

import torch

from kexue.seq import (
    BiLSTMTagger,
    CoupletCNN,
    GatedResidualConv1d,
    constrained_decode,
    split_couplets,
)


def test_output_length_equals_input_length():
    torch.manual_seed(0)
    m = CoupletCNN(30, d=16).eval()
    for n in (1, 5, 16):
        x = torch.randint(0, 30, (3, n))
        assert m(x).shape == (3, n, 30)
        assert constrained_decode(m(x), x).shape == x.shape
    assert BiLSTMTagger(30, d=8, hidden=8)(torch.randint(0, 30, (2, 7))).shape == (2, 7, 30)


def test_receptive_field_is_six_each_side():
    torch.manual_seed(0)
    m = CoupletCNN(30, d=16, n_blocks=6).eval()
    e = torch.randn(1, 21, 16, requires_grad=True)
    out = m.out(m.trunk(e))
    (grad,) = torch.autograd.grad(out[0, 10].sum(), e)
    reach = grad[0].abs().sum(-1) > 0
    assert reach.nonzero().flatten().tolist() == list(range(4, 17))


def test_gate_extremes_give_identity_or_the_convolution():
    torch.manual_seed(0)
    block = GatedResidualConv1d(4)
    x = torch.randn(2, 4, 5)  # (B, d, L)
    with torch.no_grad():
        block.conv.bias[:4] = 1e4  # σ(g) → 1: identity
    torch.testing.assert_close(block(x), x)
    with torch.no_grad():
        block.conv.bias[:4] = -1e4  # σ(g) → 0: the h half of the convolution
    h = block.conv(x)[:, 4:]
    torch.testing.assert_close(block(x), h)


def test_constrained_decode_never_repeats_the_input_char_or_emits_unk():
    logits = torch.zeros(1, 3, 5)
    logits[0, :, 0] = 9.0  # unk preferred
    logits[0, 0, 2], logits[0, 1, 3], logits[0, 2, 4] = 5.0, 5.0, 5.0
    x = torch.tensor([[2, 1, 4]])
    y = constrained_decode(logits, x)
    assert y[0, 1] == 3 and y[0, 0] != 2 and y[0, 2] != 4
    assert (y != 0).all() and (y != x).all()


def test_constrained_decode_never_repeats_on_random_logits():
    # random logits that favour the first line's character and unk everywhere: the decode
    # still never repeats it at its position (the recipe's repeat rate is 0 by construction)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 30, (64, 9), generator=g)
    logits = torch.randn(64, 9, 30, generator=g)
    logits.scatter_add_(-1, x[..., None], torch.full((64, 9, 1), 6.0))
    logits[..., 0] += 4.0
    y = constrained_decode(logits, x)
    assert (y != x).all() and (y != 0).all()
    assert (logits.argmax(-1) == x).float().mean() > 0.5  # unconstrained, it would repeat


def test_exempt_ids_may_repeat_at_their_position():
    logits = torch.zeros(1, 2, 5)
    logits[0, 0, 4], logits[0, 1, 4] = 5.0, 5.0  # the model wants id 4 (a comma) everywhere
    x = torch.tensor([[4, 2]])
    assert constrained_decode(logits, x)[0, 0] != 4
    y = constrained_decode(logits, x, exempt=torch.tensor([4]))
    assert y.tolist() == [[4, 4]]


def test_split_is_disjoint_fixed_and_complete():
    pairs = [(f"上{i}联", f"下{i}联") for i in range(400)]
    train, valid, test = split_couplets(pairs)
    assert sorted(train + valid + test) == sorted(pairs)
    firsts = [{a for a, _ in part} for part in (train, valid, test)]
    assert not (firsts[0] & firsts[1] or firsts[0] & firsts[2] or firsts[1] & firsts[2])
    assert 20 <= len(valid) <= 60 and 20 <= len(test) <= 60  # about 10 % each
    assert split_couplets(pairs[::-1])[2] == test[::-1]  # by content, not order
