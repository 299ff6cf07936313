"""The MHE regularizer: spreads the filters of every layer over the hypersphere.

Liu et al., "Learning towards Minimum Hyperspherical Energy", NeurIPS 2018, Eq. 3: the
training objective adds λ Σ_l w_l E_s(W_l) over the layers, where E_s is the mean pair
energy of ``hyperspherical_energy``. The authors' code (wy1iu/MHE, ``architecture.py``)
weighs hidden layers by 1 and the output layer by 10 (0.1 and 1 for the angular forms a1,
a2), uses half-space MHE ([W, -W]) on hidden layers only, and sums over layers. MHE acts
on angles only, so it composes with weight decay.

    regularizers:
      - name: mhe
        args: {s: "0", half_space: true}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

from hypercli.errors import HyperError
from hypercli.mhe.energy import NORM_EPS, hyperspherical_energy, layer_weights
from hypercli.mhe.kernels import parse_kernel
from hypercli.nn.regularizer import Regularizer
from hypercli.registry import REGULARIZERS


@contextlib.contextmanager
def _one_cpu_thread(device: str) -> Iterator[None]:
    """Run the per-layer Grams on one CPU thread: they are small (N <= a few hundred), and
    intra-op threads cost more in synchronization than they save, badly so on a shared
    CPU (benchmarks/mhe.py). The whole gradient is formed here, in the forward pass."""
    saved = torch.get_num_threads()
    if device != "cpu" or saved == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def default_weights(s: str) -> tuple[float, float]:
    """(hidden, output) layer weights of the authors' code for energy ``s``."""
    kernel = parse_kernel(s)
    if kernel.angular and kernel.power > 0:  # a1, a2: 1e-1 and 1
        return 0.1, 1.0
    return 1.0, 10.0


@REGULARIZERS.register("mhe")
class MHE(Regularizer):
    """Minimum hyperspherical energy on conv/linear filters and the classifier (MHE, SphereFace+).

    Args:
        s: pair energy: "0", "1", "2", "a0", "a1", "a2" (or a positive real / "a<real>").
        layers: "all" (hidden conv/linear layers and the classifier), "hidden" or
            "classifier" (SphereFace+ and the class-imbalance experiments: the head's
            weight, ``model.head.weight``).
        half_space: half-space MHE on the hidden layers ([W, -W]); never on the classifier.
        hidden_weight: weight of each hidden layer's energy (default 1, 0.1 for a1/a2).
        output_weight: weight of the classifier's energy (default 10, 1 for a1/a2).
        lam: global factor λ on the whole term.
        eps: added to ||w||² when normalizing (1e-4 as in the authors' code).
    """

    def __init__(
        self,
        s: str | int | float = "1",
        layers: Literal["all", "hidden", "classifier"] = "all",
        half_space: bool = False,
        hidden_weight: float | None = None,
        output_weight: float | None = None,
        lam: float = 1.0,
        eps: float = NORM_EPS,
    ) -> None:
        self.s = parse_kernel(s).name
        if layers not in ("all", "hidden", "classifier"):
            raise HyperError(f"mhe layers={layers!r}: use all, hidden or classifier")
        if lam < 0 or (hidden_weight or 0) < 0 or (output_weight or 0) < 0:
            raise HyperError("mhe weights (lam, hidden_weight, output_weight) must be >= 0")
        if not 0.0 <= float(eps) < float("inf"):
            raise HyperError(f"mhe eps={eps}: use a finite number >= 0")
        hw, ow = default_weights(self.s)
        self.layers = layers
        self.half_space = bool(half_space)
        self.hidden_weight = hw if hidden_weight is None else float(hidden_weight)
        self.output_weight = ow if output_weight is None else float(output_weight)
        self.lam = float(lam)
        self.eps = float(eps)
        self.targets: list[tuple[str, torch.Tensor, float, bool]] = []  # name, W, weight, half

    def attach(self, model: nn.Module) -> None:
        """Pick the layers: hidden conv/linear weights and/or the classifier weight."""
        super().attach(model)
        hidden, classifier = layer_weights(model)
        self.targets = []
        if self.layers in ("all", "hidden"):
            self.targets += [
                (name, w, self.hidden_weight, self.half_space)
                for name, w in hidden
                if w.shape[0] >= 2 or self.half_space
            ]
        if self.layers in ("all", "classifier") and classifier is not None:
            self.targets.append((classifier[0], classifier[1], self.output_weight, False))
        if not self.targets:
            raise HyperError(
                f"mhe layers={self.layers!r}: the model has no such conv/linear layer "
                "(the classifier is model.head.weight or the last nn.Linear)"
            )

    def loss(self) -> tuple[torch.Tensor | None, dict[str, float]]:
        """λ Σ_l w_l E_s(W_l); logs each layer's unweighted energy under its module name
        and the weighted term as ``total`` (the engine prefixes ``mhe/``)."""
        if not self.targets:
            return None, {}
        energies = []
        total = self.targets[0][1].new_zeros((), dtype=torch.float32)
        device = self.targets[0][1].device.type
        with torch.autocast(device_type=device, enabled=False), _one_cpu_thread(device):
            for _, w, weight, half in self.targets:
                e = hyperspherical_energy(w.float(), self.s, half, self.eps)
                energies.append(e.detach())
                total = total + weight * e
        term = self.lam * total
        values = torch.stack([*energies, term.detach()]).tolist()  # one sync for all logs
        logs = {t[0]: v for t, v in zip(self.targets, values[:-1], strict=True)}
        logs["total"] = values[-1]
        return term, logs
