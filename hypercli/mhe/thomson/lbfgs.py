"""Batched Riemannian L-BFGS on products of spheres (S^(d-1))^N, float64.

Tangent gradients, retraction by normalization, Armijo backtracking (Nocedal & Wright,
Numerical Optimization, 2nd ed., Alg. 7.4-7.5, on the sphere as in Absil, Mahony &
Sepulchre 2008, Sec. 4.1). Written here rather than taken from scipy because it advances
a whole batch of walkers at once (one Gram matrix product per step for all of them),
which scipy's one-problem-at-a-time L-BFGS-B cannot.
"""

from __future__ import annotations

import torch

from hypercli.mhe.thomson.pair_energy import EnergyGrad


def minimize(
    u: torch.Tensor,
    fg: EnergyGrad,
    max_iter: int = 5000,
    gtol: float = 1e-7,
    memory: int = 10,
    max_step: float = 0.3,
    max_backtracks: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Batched Riemannian L-BFGS on (S^(d-1))^N; returns (points, energies, iterations).

    Each walker stops when its largest tangent force is below ``gtol`` times the mean
    force scale, or when a line search can no longer lower its energy (float64 floor).
    Converged walkers leave the batch, so the cost follows the slowest ones.
    """
    b, n, d = u.shape
    out_u, out_f = u.clone(), u.new_zeros(b)
    idx = torch.arange(b, device=u.device)
    f, g = fg(u)
    dim = n * d
    s_hist = u.new_zeros(b, memory, dim)
    y_hist = u.new_zeros(b, memory, dim)
    rho = u.new_zeros(b, memory)
    gamma = max_step / g.norm(dim=-1).amax(1).clamp_min(1e-300)  # first step: max_step rad
    count = 0
    it = 0
    while it < max_iter:
        it += 1
        force = g.norm(dim=-1).amax(1)  # (B,) largest tangent force
        scale = f.abs() / n + 1.0
        done = force <= gtol * scale
        # --- two-loop recursion, batched over walkers
        q = g.reshape(len(idx), dim).clone()
        alphas = []
        slots = [(count - 1 - i) % memory for i in range(min(count, memory))]
        for j in slots:
            a = rho[:, j] * (s_hist[:, j] * q).sum(1)
            q -= a[:, None] * y_hist[:, j]
            alphas.append(a)
        r = q * gamma[:, None]
        for j, a in zip(reversed(slots), reversed(alphas), strict=True):
            beta = rho[:, j] * (y_hist[:, j] * r).sum(1)
            r += s_hist[:, j] * (a - beta)[:, None]
        p = -r.view_as(u)
        p = p - (p * u).sum(-1, keepdim=True) * u
        slope = (p * g).sum((1, 2))  # directional derivative, < 0 for descent
        bad = slope >= 0
        if bad.any():  # fall back to steepest descent
            p[bad] = -g[bad] * gamma[bad, None, None]
            slope = (p * g).sum((1, 2))
        step = torch.clamp(max_step / p.norm(dim=-1).amax(1).clamp_min(1e-300), max=1.0)
        # --- Armijo backtracking; only the walkers still searching are re-evaluated
        trial = u + step[:, None, None] * p
        trial = trial / trial.norm(dim=-1, keepdim=True)
        f_new, g_new = fg(trial)
        u_new = trial
        accepted = done | (f_new <= f + 1e-4 * step * slope)
        for _ in range(max_backtracks if count else 60):  # no curvature yet: search far
            if bool(accepted.all()):
                break
            todo = (~accepted).nonzero().squeeze(1)
            step[todo] *= 0.5
            tr = u[todo] + step[todo, None, None] * p[todo]
            tr = tr / tr.norm(dim=-1, keepdim=True)
            ft, gt = fg(tr)
            ok = ft <= f[todo] + 1e-4 * step[todo] * slope[todo]
            u_new[todo], f_new[todo], g_new[todo] = tr, ft, gt
            accepted[todo] = ok
        u_new = torch.where(accepted[:, None, None], u_new, u)
        f_new = torch.where(accepted, f_new, f)
        g_new = torch.where(accepted[:, None, None], g_new, g)
        stalled = ~accepted
        finished = done | stalled
        # --- history update
        sv = (u_new - u).reshape(len(idx), dim)
        yv = (g_new - g).reshape(len(idx), dim)
        sy = (sv * yv).sum(1)
        valid = (sy > 1e-12 * sv.norm(dim=1) * yv.norm(dim=1)) & ~finished
        slot = count % memory
        s_hist[:, slot] = torch.where(valid[:, None], sv, 0.0)
        y_hist[:, slot] = torch.where(valid[:, None], yv, 0.0)
        rho[:, slot] = torch.where(valid, 1.0 / torch.where(valid, sy, 1.0), 0.0)
        gamma = torch.where(valid, sy / (yv * yv).sum(1).clamp_min(1e-300), gamma)
        count += 1
        u, f, g = u_new, f_new, g_new
        if bool(finished.any()):  # retire finished walkers
            out_u[idx[finished]] = u[finished]
            out_f[idx[finished]] = f[finished]
            keep = ~finished
            idx, u, f, g = idx[keep], u[keep], f[keep], g[keep]
            s_hist, y_hist, rho, gamma = s_hist[keep], y_hist[keep], rho[keep], gamma[keep]
            if len(idx) == 0:
                break
    if len(idx):
        out_u[idx], out_f[idx] = u, f
    return out_u, out_f, it


