"""Bidirectional seq2seq: target reversal, causal alignment by step, L2R/R2L consistency."""

from __future__ import annotations

import torch

from kexue.seq import END, PAD, START, BiSeq2Seq, pad_batch, reverse_targets


def model(v=20):
    torch.manual_seed(0)
    return BiSeq2Seq(v, emb=16, d=16, heads=2, head_dim=8).eval()


def test_reverse_targets_swaps_the_terminators_and_keeps_pads():
    y = pad_batch([[START, 5, 6, 7, END], [START, 8, END]])
    r = reverse_targets(y)
    assert r.tolist() == [[END, 7, 6, 5, START], [END, 8, START, PAD, PAD]]
    assert torch.equal(reverse_targets(r), y)


def test_alignment_is_causal_by_step():
    """Changing the R2L prefix after step n leaves the L2R prediction at steps ≤ n unchanged."""
    m = model()
    x = torch.tensor([[5, 6, 7, 8]])
    mem = m.encode(x)
    yl = torch.tensor([[START, 9, 10, 11]])
    a, _ = m.decode_both(mem, yl, torch.tensor([[END, 12, 13, 14]]))
    b, _ = m.decode_both(mem, yl, torch.tensor([[END, 12, 15, 16]]))
    torch.testing.assert_close(a[:, :2], b[:, :2])
    assert not torch.allclose(a[:, 2], b[:, 2])


def test_losses_are_the_two_directional_cross_entropies():
    m = model()
    x = pad_batch([[5, 6, 7], [8, 9]])
    y = pad_batch([[START, 10, 11, END], [START, 12, END]])
    ce_l, ce_r = m.losses(x, y)
    lp_l, lp_r = m.decode_both(m.encode(x), y, reverse_targets(y))
    # by hand for the R2L direction of the second row: targets [8→12, 12→2]
    yr = reverse_targets(y)
    assert yr[1].tolist()[:3] == [END, 12, START]
    terms = [-lp_r[0, i, yr[0, i + 1]] for i in range(3)] + [
        -lp_r[1, i, yr[1, i + 1]] for i in range(2)
    ]
    torch.testing.assert_close(ce_r, torch.stack(terms).mean())
    assert torch.isfinite(ce_l) and m.loss(x, y).item() == (ce_l + ce_r).item() / 2


def test_generation_respects_each_direction_vocabulary():
    m = model()
    h, winner = m.generate_bidirectional([5, 6, 7, 8], beam_size=2, max_len=5)
    assert winner in ("l2r", "r2l")
    assert all(t >= 4 for t in h.tokens) and len(h.tokens) <= 5
