"""hyperspherical_energy against per-pair float64 loops of the authors' formulas, closed
forms, the chunked path, finite differences, and layer_energies on a real model."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.mhe import hyperspherical_energy, layer_energies, parse_kernel
from hypercli.mhe.energy import layer_weights


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread avoids synchronization stalls on a shared CPU."""
    torch.set_num_threads(1)


FORMS = ["0", "1", "2", "a0", "a1", "a2", "1.5", "a0.5"]


def pair_energy(c: float, s: str) -> float:
    """One pair, cosine c, written out from the sheet (hypersphere.md §5) in plain floats."""
    if s.startswith("a"):
        t = math.acos(c) / math.pi + 1e-4
        p = float(s[1:])
        return -math.log(t) if p == 0 else t ** (-p)
    r2 = 2.0 - 2.0 * c
    p = float(s)
    return -math.log(r2) if p == 0 else r2 ** (-p / 2)


def loop_reference(weight: torch.Tensor, s: str, half_space: bool, eps: float = 1e-4) -> float:
    """Mean over pairs i < j, one pair at a time, with ||w|| = sqrt(Σ w² + eps) as the code."""
    rows = [[float(v) for v in w.reshape(-1)] for w in weight]
    if half_space:
        rows = rows + [[-v for v in r] for r in rows]
    norms = [math.sqrt(sum(v * v for v in r) + eps) for r in rows]
    total, count = 0.0, 0
    for i, j in itertools.combinations(range(len(rows)), 2):
        c = sum(a * b for a, b in zip(rows[i], rows[j], strict=True)) / (norms[i] * norms[j])
        total += pair_energy(c, s)
        count += 1
    return total / count


@pytest.mark.parametrize("half_space", [False, True])
@pytest.mark.parametrize("s", FORMS)
def test_matches_per_pair_loop(s, half_space):
    torch.manual_seed(0)
    w = torch.randn(9, 2, 3, 3, dtype=torch.float64) * 0.3  # small norms: the eps matters
    got = hyperspherical_energy(w, s, half_space)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(loop_reference(w, s, half_space), rel=1e-12)


@pytest.mark.parametrize("s", FORMS)
def test_closed_forms_simplex_and_cross_polytope(s):
    # regular simplex of 4 points in R^3: every cosine is -1/3
    tetra = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
    e = hyperspherical_energy(tetra, s, eps=0.0)
    assert float(e) == pytest.approx(pair_energy(-1 / 3, s), rel=1e-12)
    # cross-polytope in R^4: of the 28 pairs, 4 are antipodal and 24 orthogonal
    cross = torch.cat([torch.eye(4), -torch.eye(4)]).double() * 3.0
    expected = (4 * pair_energy(-1.0 + 1e-15, s) + 24 * pair_energy(0.0, s)) / 28
    assert float(hyperspherical_energy(cross, s, eps=0.0)) == pytest.approx(expected, rel=1e-6)


def test_half_space_of_an_orthonormal_basis_is_the_cross_polytope():
    basis = torch.eye(3, dtype=torch.float64)
    half = hyperspherical_energy(basis, "1", half_space=True, eps=0.0)
    full = hyperspherical_energy(torch.cat([basis, -basis]), "1", eps=0.0)
    # 6 points: 3 antipodal pairs at distance 2, 12 orthogonal pairs at distance √2
    assert float(half) == pytest.approx(float(full), rel=1e-12)
    assert float(half) == pytest.approx((3 / 2 + 12 / math.sqrt(2)) / 15, rel=1e-12)


@pytest.mark.parametrize("half_space", [False, True])
@pytest.mark.parametrize("s", ["0", "1", "a1"])
def test_chunked_equals_unchunked(s, half_space):
    torch.manual_seed(1)
    w = torch.randn(37, 11, dtype=torch.float64, requires_grad=True)
    e1 = hyperspherical_energy(w, s, half_space)
    (g1,) = torch.autograd.grad(e1, w)
    e2 = hyperspherical_energy(w, s, half_space, chunk_elements=37 * 3)  # 3 rows per block
    (g2,) = torch.autograd.grad(e2, w)
    e3 = hyperspherical_energy(w, s, half_space, chunk_elements=1)  # one row per block
    assert float(e1.detach()) == pytest.approx(float(e2.detach()), rel=1e-13)
    assert float(e1.detach()) == pytest.approx(float(e3.detach()), rel=1e-13)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("half_space", [False, True])
@pytest.mark.parametrize("s", FORMS)
def test_gradient_matches_finite_differences(s, half_space):
    torch.manual_seed(2)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: hyperspherical_energy(x, s, half_space, chunk_elements=8), (w,))


@pytest.mark.parametrize("s", FORMS)
def test_coincident_filters_give_finite_gradients(s):
    w = torch.randn(5, 8)
    w = torch.cat([w, w[:2]]).requires_grad_(True)  # two pairs of identical filters
    for half in (False, True):
        e = hyperspherical_energy(w, s, half)
        (g,) = torch.autograd.grad(e, w)
        assert torch.isfinite(e) and torch.isfinite(g).all()


def test_scale_invariant_and_no_grad_path():
    torch.manual_seed(3)
    w = torch.randn(20, 4, 3, 3, dtype=torch.float64)
    e = hyperspherical_energy(w, "1", eps=0.0)
    assert float(hyperspherical_energy(7.0 * w, "1", eps=0.0)) == pytest.approx(float(e), 1e-13)
    with torch.no_grad():
        assert float(hyperspherical_energy(w.requires_grad_(True), "1", eps=0.0)) == float(e)


def test_thousands_of_filters_in_blocks():
    torch.manual_seed(4)
    w = torch.randn(3000, 16, requires_grad=True)
    e = hyperspherical_energy(w, "1", chunk_elements=3000 * 256)  # 12 blocks of 256 rows
    e.backward()
    # the mean Coulomb energy of random directions in R^16 is E[(2 - 2c)^(-1/2)] ≈ 0.73
    assert 0.6 < float(e.detach()) < 0.9 and torch.isfinite(w.grad).all()


@pytest.mark.parametrize("bad", ["b1", "-1", "x", "a-2", "nan", ""])
def test_unknown_s_is_a_user_error(bad):
    with pytest.raises(HyperError, match="unknown MHE energy"):
        hyperspherical_energy(torch.randn(4, 3), bad)


def test_parse_accepts_yaml_numbers():
    assert parse_kernel(0).name == "0" and parse_kernel(2.0).name == "2"
    assert parse_kernel("A1").name == "a1" and parse_kernel(1.5).name == "1.5"


def test_layer_energies_of_a_model():
    from hypercli.models import create_model
    from hypercli.recipe import build_recipe
    from tests.conftest import tiny_tree

    model = create_model(build_recipe(tiny_tree()), 4, 3, 16)
    hidden, classifier = layer_weights(model)
    assert [n for n, _ in hidden] == [n for n, m in model.named_modules()
                                      if isinstance(m, nn.Conv2d)]
    assert classifier is not None and classifier[1] is model.head.weight
    energies = layer_energies(model, s="0", half_space=True)
    assert list(energies) == [n for n, _ in hidden] + ["head"]
    for name, w in hidden:
        assert energies[name] == pytest.approx(loop_reference(w.detach(), "0", True), rel=1e-5)
    assert energies["head"] == pytest.approx(  # the classifier never uses half-space
        loop_reference(model.head.weight.detach(), "0", False), rel=1e-5)


def test_classifier_falls_back_to_the_last_linear():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 6), nn.Linear(6, 3))
    hidden, classifier = layer_weights(model)
    assert [n for n, _ in hidden] == ["0", "2"] and classifier is not None
    assert classifier[0] == "3"
