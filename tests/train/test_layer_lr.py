"""Layer-wise learning rates: param groups, the θ = λφ trick (exact in float64), gradient hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kexue.train import (
    LrMultiplier,
    clip_grad_l1_,
    equivalent_hparams,
    param_groups,
    plain_state_dict,
    register_grad_transform,
    set_lr_multiplier,
)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Embedding(20, 6),
        nn.Flatten(),
        nn.Linear(18, 8),
        nn.LayerNorm(8),
        nn.Tanh(),
        nn.Linear(8, 3),
    ).double()


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (16, 3), generator=g), torch.randint(0, 3, (16,), generator=g)


def test_every_parameter_in_exactly_one_group_and_lr_is_base_times_mult():
    net = _net()
    groups = param_groups(net, 1e-3, {"0.": 0.1, "weight": 2.0, "5.": 10.0}, weight_decay=0.01)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in net.parameters())
    for g in groups:
        for name in g["names"]:
            mult = 1.0
            for pat, m in {"0.": 0.1, "weight": 2.0, "5.": 10.0}.items():
                if pat in name:
                    mult *= m
            assert g["lr"] == pytest.approx(1e-3 * mult)
            decays = not ("bias" in name or name.startswith("3."))
            assert g["weight_decay"] == (0.01 if decays else 0.0)
    opt = torch.optim.AdamW(groups, lr=1e-3)
    assert [pg["lr"] for pg in opt.param_groups] == [g["lr"] for g in groups]


def test_tied_weights_appear_once():
    emb = nn.Embedding(5, 4)
    head = nn.Linear(4, 5, bias=False)
    head.weight = emb.weight
    model = nn.ModuleDict({"emb": emb, "head": head})
    groups = param_groups(model, 0.1, {"head": 3.0})
    assert sum(len(g["params"]) for g in groups) == 1


def _train(net, opt, steps=60):
    for s in range(steps):
        x, y = _batch(s)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return plain_state_dict(net)


CASES = [
    ("sgd", lambda ps, **k: torch.optim.SGD(ps, **k), {"lr": 0.1}),
    ("sgd", lambda ps, **k: torch.optim.SGD(ps, momentum=0.9, nesterov=True, **k), {"lr": 0.05}),
    ("sgd", lambda ps, **k: torch.optim.SGD(ps, **k), {"lr": 0.1, "weight_decay": 0.01}),
    ("adam", lambda ps, **k: torch.optim.Adam(ps, **k), {"lr": 1e-2, "eps": 1e-8}),
    (
        "adam",
        lambda ps, **k: torch.optim.Adam(ps, **k),
        {"lr": 1e-2, "eps": 1e-3, "weight_decay": 0.1},
    ),
    (
        "adamw",
        lambda ps, **k: torch.optim.AdamW(ps, **k),
        {"lr": 1e-2, "eps": 1e-3, "weight_decay": 0.1},
    ),
    ("rmsprop", lambda ps, **k: torch.optim.RMSprop(ps, **k), {"lr": 1e-3, "eps": 1e-4}),
]


@pytest.mark.parametrize(("kind", "make", "hp"), CASES)
def test_reparametrisation_equals_param_groups_exactly(kind, make, hp):
    lam = 0.1
    lr_kind = "sgd" if kind == "sgd" else "adaptive"
    a = _net()
    set_lr_multiplier(a[0], lam, lr_kind)  # the embedding at 0.1×, as in the article's example
    opt_a = make(a.parameters(), **hp)
    b = _net()
    scale = LrMultiplier(lam, kind=lr_kind).scale
    eq = equivalent_hparams(kind, scale, **hp)
    emb = [b[0].weight]
    rest = [p for n, p in b.named_parameters() if not n.startswith("0.")]
    base = {k: v for k, v in hp.items()}
    opt_b = make([{"params": rest, **base}, {"params": emb, **{**base, **eq}}], **base)
    sa, sb = _train(a, opt_a), _train(b, opt_b)
    assert sa.keys() == sb.keys()
    # the article's statement: effective lr λ²α·(1/λ) ... = λα (sgd with √λ) or λα (adaptive)
    assert eq["lr"] == pytest.approx(lam * hp["lr"])
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-10, rtol=0), k


def test_adam_with_unchanged_eps_is_only_approximate():
    lam = 0.01
    a = _net()
    set_lr_multiplier(a[0], lam, "adaptive")
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, eps=1e-2)
    b = _net()
    rest = [p for n, p in b.named_parameters() if not n.startswith("0.")]
    opt_b = torch.optim.Adam(
        [{"params": rest}, {"params": [b[0].weight], "lr": lam * 1e-2}], lr=1e-2, eps=1e-2
    )
    sa, sb = _train(a, opt_a), _train(b, opt_b)
    assert float((sa["0.weight"] - sb["0.weight"]).abs().max()) > 1e-6


def test_initial_values_are_preserved_and_plain_state_dict_loads():
    net = _net()
    w = net[2].weight.detach().clone()
    set_lr_multiplier(net[2], 4.0, "sgd")
    assert torch.allclose(net[2].weight, w)
    assert torch.allclose(net[2].parametrizations.weight.original, w / 2.0)
    plain = _net()
    plain.load_state_dict(plain_state_dict(net))
    x, _ = _batch(0)
    assert torch.allclose(plain(x), net(x))


def test_free_gradient_transforms():
    net = _net()
    handles = register_grad_transform(net, "", torch.zeros_like)  # the article's "prank"
    x, y = _batch(1)
    nn.functional.cross_entropy(net(x), y).backward()
    assert all(float(p.grad.abs().sum()) == 0 for p in net.parameters())
    for h in handles:
        h.remove()
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    others = {n: p.grad.clone() for n, p in net.named_parameters() if not n.startswith("5.")}
    head = [p for n, p in net.named_parameters() if n.startswith("5.")]
    before = clip_grad_l1_(head, 0.01)
    assert float(before) > 0.01
    assert sum(float(p.grad.abs().sum()) for p in head) == pytest.approx(0.01)
    for n, p in net.named_parameters():
        if n in others:
            assert torch.equal(p.grad, others[n])
