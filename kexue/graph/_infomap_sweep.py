r"""One local-moving sweep of InfoMap's core loop, compiled by numba when it is installed.

Article:  最小熵原理（五）：“层层递进”之社区发现与聚类 — 苏剑林, 2019-10-19
URL:      https://kexue.fm/archives/7006
Original: Rosvall & Bergstrom 2008 (PNAS) and Infomap's core loop (Rosvall, Axelsson & Bergstrom
          2009); the search around this sweep is in kexue.graph.infomap.

Key equation (the ΔL of moving node v from module A to module B; out_to[M] / in_from[M] are v's
link flows to / from M \ {v}, o / i its total out / in flow, p_v its visit rate)::

    q_A↷' = q_A↷ − (o − out_to[A]) + in_from[A],   q_A↶' = q_A↶ − (i − in_from[A]) + out_to[A]
    q_B↷' = q_B↷ + (o − out_to[B]) − in_from[B],   q_B↶' = q_B↶ + (i − in_from[B]) − out_to[B]
    ΔL = Δ[plogp(Σ q↶)] + Σ_{M∈{A,B}} Δ[−plogp(q_M↶) − plogp(q_M↷) + plogp(q_M↷ + Σ_{α∈M} p_α)]

`sweep` is written once, over indexable sequences, and runs two ways with the same operations
in the same order: compiled by `numba.njit` over numpy arrays (`kernel()` when numba imports),
or as plain Python over lists (the fallback; lists because indexing them is several times
cheaper than indexing numpy arrays from the interpreter). Both give identical partitions.

Deviations from Infomap's core loop: local moves run up to 20 rounds (kexue.graph.infomap's
`max_sweeps`), not Infomap's default `core_loop_limit` of 10; among candidates within
`threshold` of the best ΔL the first met in the node's link order wins.
"""

from __future__ import annotations

from collections.abc import Callable
from math import log2
from typing import Any

__all__: list[str] = []

_compiled: Callable[..., tuple[float, int, float, int]] | None = None


def sweep(visit: Any, lab: Any, out_ptr: Any, out_nb: Any, out_w: Any, in_ptr: Any, in_nb: Any,
          in_w: Any, sym: bool, out_tot: Any, in_tot: Any, p: Any, exit_: Any, enter: Any,
          flow: Any, mterm: Any, size: Any, empty: Any, n_empty: int, total_enter: float,
          threshold: float, nxt: Any, acc_o: Any, acc_i: Any, mark: Any, touched: Any
          ) -> tuple[float, int, float, int]:  # fmt: skip
    """Move each node of `visit` (in that order) to the neighbouring or empty module with the
    most negative ΔL (by more than `threshold`); updates the module state in place.

    CSR rows (`out_ptr`, `out_nb`, `out_w`; `in_*` the same for in-links, unused when `sym`)
    give each node's neighbours; module ids are < n; `exit_`, `enter`, `flow`, `mterm` (cached
    −plogp(q↶) − plogp(q↷) + plogp(q↷ + Σp)) and `size` are per module id; `empty[:n_empty]`
    is a stack of unused ids. `nxt` gets a 1 at every neighbour of a moved node (revisited next
    sweep). `acc_o`, `acc_i`, `mark` (zeros) and `touched` are length-n scratch.
    Candidates are tried in the order their modules first appear among v's out- then in-links,
    then a new module; the first within `threshold` of the best wins (a fixed tie order, so
    both runtimes pick the same module).
    Returns (total enter rate, n_empty, summed ΔL, number of moves).
    """
    gain = 0.0
    moves = 0
    pte = total_enter * log2(total_enter) if total_enter > 0 else 0.0
    for v in visit:
        a = lab[v]
        # v's link flow to / from each neighbouring module, in first-seen order
        nt = 0
        for j in range(out_ptr[v], out_ptr[v + 1]):
            m = lab[out_nb[j]]
            if not mark[m]:
                mark[m] = 1
                touched[nt] = m
                nt += 1
            acc_o[m] += out_w[j]
        if not sym:
            for j in range(in_ptr[v], in_ptr[v + 1]):
                m = lab[in_nb[j]]
                if not mark[m]:
                    mark[m] = 1
                    touched[nt] = m
                    nt += 1
                acc_i[m] += in_w[j]
        o = out_tot[v]
        i = in_tot[v]
        pv = p[v]
        oa = acc_o[a]
        ia = oa if sym else acc_i[a]
        # module A without v
        ex_a = exit_[a] - (o - oa) + ia
        en_a = enter[a] - (i - ia) + oa
        fl_a = flow[a] - pv
        x = ex_a + fl_a
        new_a = -(en_a * log2(en_a) if en_a > 0 else 0.0) - (
            ex_a * log2(ex_a) if ex_a > 0 else 0.0
        ) + (x * log2(x) if x > 0 else 0.0)  # fmt: skip
        base = new_a - mterm[a] - pte
        base_enter = total_enter - enter[a] + en_a
        best = 0.0
        best_m = a
        can_empty = size[a] > 1 and n_empty > 0
        for t in range(nt + 1):
            if t < nt:
                b = touched[t]
                if b == a:
                    continue
                eb = enter[b]
                xb = exit_[b]
                fb = flow[b]
                old_b = mterm[b]
                ob = acc_o[b]
                ib = ob if sym else acc_i[b]
            elif can_empty:  # a new module: all its rates are zero
                b = -1
                eb = xb = fb = old_b = ob = ib = 0.0
            else:
                break
            ex_b = xb + (o - ob) - ib
            en_b = eb + (i - ib) - ob
            xf = ex_b + fb + pv
            te = base_enter - eb + en_b
            delta = base - old_b
            if xf > 0:
                delta += xf * log2(xf)
            if en_b > 0:
                delta -= en_b * log2(en_b)
            if ex_b > 0:
                delta -= ex_b * log2(ex_b)
            if te > 0:
                delta += te * log2(te)
            if delta < best - threshold:
                best = delta
                best_m = b
        if best_m != a:
            if best_m == -1:
                n_empty -= 1
                b = empty[n_empty]
            else:
                b = best_m
            ob = acc_o[b]
            ib = ob if sym else acc_i[b]
            en_b = enter[b] + (i - ib) - ob
            total_enter += (en_a - enter[a]) + (en_b - enter[b])
            pte = total_enter * log2(total_enter) if total_enter > 0 else 0.0
            exit_[a] = ex_a
            enter[a] = en_a
            flow[a] = fl_a
            exit_[b] = exit_[b] + (o - ob) - ib
            enter[b] = en_b
            flow[b] += pv
            size[a] -= 1
            size[b] += 1
            if size[a] == 0:
                exit_[a] = 0.0
                enter[a] = 0.0
                flow[a] = 0.0
                empty[n_empty] = a
                n_empty += 1
            for m in (a, b):
                e, q = enter[m], exit_[m]
                x = q + flow[m]
                mterm[m] = -(e * log2(e) if e > 0 else 0.0) - (q * log2(q) if q > 0 else 0.0) + (
                    x * log2(x) if x > 0 else 0.0
                )  # fmt: skip
            lab[v] = b
            gain += best
            moves += 1
            for j in range(out_ptr[v], out_ptr[v + 1]):
                nxt[out_nb[j]] = 1
            if not sym:
                for j in range(in_ptr[v], in_ptr[v + 1]):
                    nxt[in_nb[j]] = 1
        for t in range(nt):
            m = touched[t]
            acc_o[m] = 0.0
            acc_i[m] = 0.0
            mark[m] = 0
    return total_enter, n_empty, gain, moves


def kernel() -> Callable[..., tuple[float, int, float, int]] | None:
    """`sweep` compiled by numba, or None when numba does not import (then the caller runs
    `sweep` in Python). numba is imported here, on the search's first call, so importing
    kexue.graph stays cheap; `cache=True` keeps the machine code on disk, so a new process
    loads it instead of compiling."""
    global _compiled
    try:
        import numba
    except ImportError:
        return None
    if _compiled is None:
        # no fastmath: IEEE operations in source order, so the compiled sweep equals the Python one
        try:
            _compiled = numba.njit(cache=True, nogil=True)(sweep)
        except RuntimeError:  # no writable cache directory (numba: "no locator available")
            _compiled = numba.njit(nogil=True)(sweep)
    return _compiled
