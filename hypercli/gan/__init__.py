"""Generative adversarial networks on the hypersphere: training (``task: gan``) and the
scores of generated images (``hypercli.gan.scores``: FID, Inception Score, KID)."""
