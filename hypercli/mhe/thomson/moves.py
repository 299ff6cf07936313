"""Starts and moves of the global search: random points, cut-and-splice, local moves."""

from __future__ import annotations

import math

import torch


def _random_points(b: int, n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """(b, n, d) uniform on the sphere (normalized Gaussians), float64 on the CPU."""
    x = torch.randn(b, n, d, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def _random_rotation(d: int, gen: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal (d, d) matrix (QR of a Gaussian, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))[None, :]


def _splice(a: torch.Tensor, b: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Cut-and-splice child of two configurations (N, d) (Morris, Deaven & Ho 1996).

    Both parents are rotated at random; the child takes the points of ``a`` above a random
    plane and fills the rest with the lowest points of ``b``.
    """
    n, d = a.shape
    a = a @ _random_rotation(d, gen).to(a)
    b = b @ _random_rotation(d, gen).to(b)
    height = float(torch.rand((), generator=gen)) - 0.5  # plane z = height
    top = a[a[:, -1] > height]
    k = min(max(int(top.shape[0]), 1), n - 1)
    top = a[a[:, -1].argsort(descending=True)[:k]]
    bottom = b[b[:, -1].argsort()[: n - k]]
    return torch.cat([top, bottom])


def _mutant(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A local move on one configuration (N, d): basin-hopping steps (Wales & Doye 1997).

    Half the time the k nearest points of a random point (a cap) turn by a random angle
    about it, in a random 2-plane orthogonal to it (d = 3: about its axis), which moves a
    defect or a grain as a whole; otherwise they are shaken by Gaussian noise of 0.4 times
    the mean nearest-neighbour angle. k is drawn from 5..N/4.
    """
    n, d = x.shape
    center = x[int(torch.randint(n, (), generator=gen))]
    k = int(torch.randint(5, max(6, n // 4), (), generator=gen)) if n > 5 else n
    idx = (x @ center).topk(min(k, n)).indices
    out = x.clone()
    if d >= 3 and float(torch.rand((), generator=gen)) < 0.5:
        e = torch.randn(2, d, generator=gen, dtype=x.dtype)
        e = e - (e @ center)[:, None] * center  # tangent at the center
        e1 = e[0] / e[0].norm()
        e2 = e[1] - (e[1] @ e1) * e1
        e2 = e2 / e2.norm()
        angle = float(torch.rand((), generator=gen)) * 2 * math.pi
        c, s = math.cos(angle) - 1.0, math.sin(angle)
        rot = (torch.eye(d, dtype=x.dtype) + c * (torch.outer(e1, e1) + torch.outer(e2, e2))
               + s * (torch.outer(e2, e1) - torch.outer(e1, e2)))
        out[idx] = out[idx] @ rot.T
    else:
        g = x @ x.T
        g.fill_diagonal_(-1.0)
        spacing = float(torch.acos(g.amax(1).clamp(-1.0, 1.0)).mean())
        out[idx] += 0.4 * spacing * torch.randn(len(idx), d, generator=gen, dtype=x.dtype)
    return out / out.norm(dim=-1, keepdim=True)


def _children(pop: torch.Tensor, count: int, gen: torch.Generator,
              mutation: float = 0.0) -> torch.Tensor:
    """``count`` children of a population (P, N, d) sorted best first: with probability
    ``mutation`` a local move on one parent (``_mutant``), else a cut-and-splice of two."""
    p = pop.shape[0]
    kids = []
    for _ in range(count):
        i, j = (torch.rand(2, generator=gen) ** 2 * p).long().tolist()  # favour the best
        if mutation > 0 and float(torch.rand((), generator=gen)) < mutation:
            kids.append(_mutant(pop[i], gen))
            continue
        if p > 1 and i == j:
            j = (i + 1 + int(torch.randint(p - 1, (), generator=gen))) % p
        kids.append(_splice(pop[i], pop[j], gen))
    return torch.stack(kids)




def spiral_points(n: int) -> torch.Tensor:
    """(N, 3) the generalized spiral of Rakhmanov, Saff & Zhou (Math. Res. Lett. 1, 1994,
    eq. 8): heights h_k = -1 + 2(k-1)/(N-1), longitudes φ_k = φ_(k-1) + 3.6 / √(N (1-h_k²))
    (mod 2π), φ_1 = φ_N = 0. A structured start close to a low minimum for any N."""
    h = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    theta = torch.acos(h)
    phi = torch.zeros(n, dtype=torch.float64)
    inner = (1 - h[1:-1] ** 2).clamp_min(1e-300)
    phi[1:-1] = torch.cumsum(3.6 / torch.sqrt(n * inner), 0) % (2 * math.pi)
    return torch.stack([torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi),
                        h], dim=1)


def point_energies(x: torch.Tensor) -> torch.Tensor:
    """(N,) Σ_j 1/||x_i - x_j|| for each point of (N, d): the Coulomb potential it feels."""
    r2 = (2.0 - 2.0 * (x @ x.T)).clamp_min(1e-300)
    r2.fill_diagonal_(1.0)
    return r2.rsqrt().sum(1) - 1.0


def hole_move(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Move the 1-3 points of highest Coulomb potential into the largest holes (N, 3).

    The holes are the Delaunay triangles of the points (the facets of their convex hull,
    scipy.spatial.ConvexHull); a facet's spherical circumcentre is its unit normal and its
    radius arccos of the facet plane's distance to the centre. Aimed at what separates low
    minima of large N: where the 5-7 defects (scars) sit (Wales, McKay & Altschuler, Phys.
    Rev. B 79, 224115, 2009).
    """
    from scipy.spatial import ConvexHull

    n = x.shape[0]
    count = 1 + int(torch.randint(3, (), generator=gen))
    hull = ConvexHull(x.numpy())
    eq = torch.as_tensor(hull.equations, dtype=x.dtype)  # (F, 4): normal, offset
    order = eq[:, 3].argsort(descending=True)  # offset -cos(radius): largest holes first
    worst = point_energies(x).argsort(descending=True)
    out = x.clone()
    used: list[torch.Tensor] = []
    moved = 0
    for f in order.tolist():
        centre = eq[f, :3]
        if any(float(centre @ c) > 0.999 for c in used):
            continue
        out[worst[moved]] = centre + 1e-3 * torch.randn(3, generator=gen, dtype=x.dtype)
        used.append(centre)
        moved += 1
        if moved == min(count, n - 1):
            break
    return out / out.norm(dim=-1, keepdim=True)
