"""Training throughput of ``hyper train`` against a minimal hand-written PyTorch loop.

Both train the same model (fmnist-classic's) on the same Fashion-MNIST images with the same
optimizer and batch size, interleaved run by run so that machine load hits both alike.
Prints images/s for each and their ratio (target: engine / hand loop >= 0.95).

    python benchmarks/train.py [--steps 150] [--repeats 3] [--recipe fmnist-classic]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from hypercli.data import load_data
from hypercli.engine import train
from hypercli.engine.optim import build_optimizer
from hypercli.models import create_model
from hypercli.recipe import load_recipe


def hand_loop(recipe, data, steps: int) -> float:
    """The loop a user would write by hand: images/s over ``steps`` steps."""
    torch.manual_seed(recipe.seed)
    model = create_model(recipe, data.num_classes, data.in_channels, data.image_size,
                         data.mean, data.std)
    opt = build_optimizer(model, recipe.optimizer)
    bs = recipe.data.batch_size
    images, labels = data.train.images, data.train.labels
    perm = torch.randperm(len(images))
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[i * bs : (i + 1) * bs]
        x = images[idx].float().div_(255)
        y = labels[idx]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * bs / (time.perf_counter() - t0)


def engine(recipe, data, steps: int) -> float:
    spe = -(-len(data.train) // recipe.data.batch_size)
    r = recipe.model_copy(deep=True)
    r.train.epochs = steps / spe
    r.train.eval_every = 0
    with tempfile.TemporaryDirectory() as d:
        summary = train(r, out_dir=f"{d}/run", progress=False)
    return summary["train_images_per_second"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default="fmnist-classic")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    recipe = load_recipe(args.recipe, ["train.device=cpu", "data.augment=[]"])
    data = load_data(recipe.data, recipe.seed)
    hand, eng = [], []
    for _ in range(args.repeats):
        hand.append(hand_loop(recipe, data, args.steps))
        eng.append(engine(recipe, data, args.steps))
    h, e = statistics.median(hand), statistics.median(eng)
    print(f"recipe {args.recipe}, {args.steps} steps x batch {recipe.data.batch_size}, "
          f"median of {args.repeats}, {torch.get_num_threads()} threads")
    print(f"{'hand-written loop':<20}{h:>10.0f} images/s")
    print(f"{'hyper train':<20}{e:>10.0f} images/s")
    print(f"{'ratio':<20}{e / h:>10.3f}   (target >= 0.95)")


if __name__ == "__main__":
    main()
