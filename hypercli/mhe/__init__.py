"""Minimum hyperspherical energy: the pair energies, the layer regularizer, the Thomson solver.

Liu et al., "Learning towards Minimum Hyperspherical Energy", NeurIPS 2018
(hypersphere.md §5-6). Importing the package registers the ``mhe`` regularizer.
"""

from hypercli.mhe.energy import hyperspherical_energy, layer_energies
from hypercli.mhe.kernels import parse_kernel
from hypercli.mhe.regularizer import MHE

__all__ = ["MHE", "hyperspherical_energy", "layer_energies", "parse_kernel"]
