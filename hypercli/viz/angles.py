"""Angle statistics on the hypersphere, in float64 degrees: features by class, filters by layer.

What the plots draw and what the tests check. Margins (SphereFace, Liu et al. 2017, Sec. 3)
shrink the angles between features of one class and widen those between classes; MHE
(Liu et al. 2018, Eq. 1) spreads the filters of a layer over the sphere.

    stats = class_angles(features, labels)      # (N, D), (N,)
    stats.mean_intra, stats.mean_inter          # degrees
    filter_angles(conv.weight)                  # (N(N-1)/2,) degrees
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hypercli.errors import HyperError

EPS = 1e-12


def as_matrix(x: Any, what: str = "features") -> np.ndarray:
    """Any array-like (numpy, torch) -> float64 (N, D); filters (N, ...) are flattened."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 2:
        raise HyperError(f"{what}: expected a matrix (N, D), got shape {tuple(arr.shape)}")
    arr = arr.reshape(arr.shape[0], -1)
    if not np.isfinite(arr).all():
        raise HyperError(f"{what}: contains NaN or infinity; the model may have diverged")
    return arr


def normalize_rows(x: Any) -> np.ndarray:
    """Rows scaled to unit length, (N, D) float64; an all-zero row stays zero."""
    arr = as_matrix(x)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, EPS)


def angle_matrix(x: Any) -> np.ndarray:
    """Pairwise angles in degrees, (N, N): arccos of the clamped cosine Gram matrix."""
    unit = normalize_rows(x)
    return np.degrees(np.arccos(np.clip(unit @ unit.T, -1.0, 1.0)))


def subsample(n: int, max_points: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` items, the same for the same seed."""
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def class_centres(features: Any, labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Unit mean direction of each class's normalized features, (C, D); NaN rows if absent."""
    unit = normalize_rows(features)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    centres = np.full((num_classes, unit.shape[1]), np.nan)
    for c in range(num_classes):
        rows = unit[y == c]
        if len(rows):
            mean = rows.mean(axis=0)
            centres[c] = mean / max(np.linalg.norm(mean), EPS)
    return centres


@dataclass
class ClassAngles:
    """Pairwise feature angles (degrees) split into same-class and different-class pairs."""

    intra: np.ndarray  # (P_same,) one per pair i < j with y_i == y_j
    inter: np.ndarray  # (P_diff,) one per pair i < j with y_i != y_j
    centre_angles: np.ndarray  # (C, C) angles between class mean directions
    n_points: int  # how many samples the pairs were drawn from

    @property
    def mean_intra(self) -> float:
        return float(self.intra.mean()) if self.intra.size else float("nan")

    @property
    def mean_inter(self) -> float:
        return float(self.inter.mean()) if self.inter.size else float("nan")

    @property
    def min_centre_angle(self) -> float:
        """Smallest angle between two class centres: how close the nearest classes are."""
        c = self.centre_angles
        off = c[~np.eye(len(c), dtype=bool)]
        off = off[np.isfinite(off)]
        return float(off.min()) if off.size else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "n_points": self.n_points,
            "mean_intra_deg": self.mean_intra,
            "mean_inter_deg": self.mean_inter,
            "min_centre_deg": self.min_centre_angle,
        }


def class_angles(features: Any, labels: Any, max_points: int | None = 3000,
                 seed: int = 0) -> ClassAngles:
    """Angles between all pairs of (at most ``max_points``, sampled with ``seed``) features.

    Args:
        features: (N, D) features (raw; they are normalized here).
        labels: (N,) integer classes.
        max_points: cap on the samples used for pairs (N^2/2 pairs); None uses all.
    """
    feats = as_matrix(features)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(y) != len(feats):
        raise HyperError(f"features have {len(feats)} rows but labels {len(y)}")
    idx = subsample(len(feats), max_points, seed)
    f, yy = feats[idx], y[idx]
    angles = angle_matrix(f)  # (n, n)
    iu, ju = np.triu_indices(len(f), k=1)
    same = yy[iu] == yy[ju]
    pair_angles = angles[iu, ju]
    centres = class_centres(feats, y)
    absent = np.isnan(centres).any(axis=1)
    centre_angles = angle_matrix(np.nan_to_num(centres))
    centre_angles[absent, :] = np.nan
    centre_angles[:, absent] = np.nan
    return ClassAngles(
        intra=pair_angles[same],
        inter=pair_angles[~same],
        centre_angles=centre_angles,
        n_points=len(f),
    )


def filter_angles(weight: Any) -> np.ndarray:
    """Angles (degrees) between all pairs i < j of a layer's flattened filters, (N(N-1)/2,).

    ``weight``: (N, ...) — conv (out, in, kh, kw) or linear (out, in); filter i is row i.
    """
    angles = angle_matrix(as_matrix(weight, "weight"))
    iu, ju = np.triu_indices(len(angles), k=1)
    return angles[iu, ju]


@dataclass
class Projection:
    """An azimuthal equidistant view of features on S^(D-1) in the plane."""

    xy: np.ndarray  # (N, 2) plotted points; |xy_i| = radius_i
    radius: np.ndarray  # (N,) exact angle (degrees) of each feature to ``centre``
    centre: np.ndarray  # (D,) the unit direction the map is centred on
    azimuth_share: float  # share of the tangent directions' energy the azimuth plane keeps


def azimuthal_equidistant(features: Any, centre: Any | None = None) -> Projection:
    """Map unit features to the plane keeping each one's angle to ``centre`` exactly.

    The Riemannian log map at the centre c sends x to θ·t, θ = ∠(x, c), t the unit
    tangent direction of x at c. Distance from the origin is the exact angle θ; the
    azimuth is t projected onto the two leading singular directions of all t (exact for
    D <= 3, where this is the cartographers' azimuthal equidistant projection; a
    projection for D > 3, whose faithfulness ``azimuth_share`` reports). c defaults to
    the mean feature direction.
    """
    unit = normalize_rows(features)  # (N, D)
    if centre is None:
        mean = unit.mean(axis=0)
        if np.linalg.norm(mean) < 1e-6:  # balanced around the origin: use the main axis
            mean = np.linalg.svd(unit, full_matrices=False)[2][0]
        centre = mean
    c = np.asarray(centre, dtype=np.float64).reshape(-1)
    c = c / max(np.linalg.norm(c), EPS)
    cos = np.clip(unit @ c, -1.0, 1.0)  # (N,)
    theta = np.degrees(np.arccos(cos))
    tangent = unit - cos[:, None] * c[None, :]  # (N, D), orthogonal to c
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), EPS)
    _, sing, vt = np.linalg.svd(tangent, full_matrices=False)
    basis = vt[:2]  # (2, D)
    if basis.shape[0] < 2:
        basis = np.vstack([basis, np.zeros((2 - basis.shape[0], unit.shape[1]))])
    plane = tangent @ basis.T  # (N, 2)
    phi = np.arctan2(plane[:, 1], plane[:, 0])
    xy = np.stack([theta * np.cos(phi), theta * np.sin(phi)], axis=1)
    total = float((sing**2).sum())
    share = float((sing[:2] ** 2).sum() / total) if total > 0 else 1.0
    return Projection(xy=xy, radius=theta, centre=c, azimuth_share=share)
