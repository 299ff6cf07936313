"""SphereFace-20 training images/s: ``hyper train`` against a hand-written PyTorch loop, and
the verification time per 6,000 pairs (issue targets: training >= 0.95x the plain loop).

Both trainings use the same network (``sphereface20`` at ``--width``, A-Softmax m=4, built
by ``create_model`` from the same recipe and seed), the same data (``--images`` 112x96
JPEG faces written once as insightface RecordIO: smooth random colour fields plus noise,
``--classes`` identities), the same batch, workers, threads, memory format and mirror
augmentation, and plain SGD (momentum 0.9, weight decay 5e-4):

- ``hyper train``: ``hypercli.engine.train`` on the recipe (progress off); its images/s
  are the summary's ``train_images_per_second`` (training time of every epoch, loader
  waits included);
- the plain loop: a ``torch.utils.data.Dataset`` over the same ``.rec`` records (decoded by
  Pillow, ``RandomHorizontalFlip``, ``PILToTensor``), ``DataLoader(shuffle=True)``, and
  ``loss.backward(); opt.step()``: the loop a user writes by hand, timed the same way.

Runs alternate (hyper, plain, hyper, plain, ...) so machine load hits both alike; the
table gives the best of ``--repeats`` each. Verification: the embeddings of a 6,000-pair
set in insightface's .bin layout (12,000 112x112 images, SphereFace-20 with the insightface
crop) plus each protocol on them, timed separately.

    python benchmarks/faces.py                       # width 16, 1024 images, 2 repeats
    python benchmarks/faces.py --width 64 --images 4096 --json
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def face_images(n: int, classes: int, hw=(112, 96), seed: int = 0):
    """uint8 (n, 3, H, W) smooth colour fields + noise (JPEG-friendly), labels i % classes."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(n, 3, 7, 6, generator=g), size=hw, mode="bicubic",
                      align_corners=False)
    x = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return (x * 255).round().to(torch.uint8), torch.arange(n) % classes


def write_rec(root: Path, n: int, classes: int) -> Path:
    from hypercli.data.base import RawDataset, Split
    from hypercli.data.export import export_dataset

    x, y = face_images(n, classes)
    raw = RawDataset(Split(x, y), Split(x[:64], y[:64]), [f"id{i}" for i in range(classes)],
                     [0.5] * 3, [0.5] * 3)
    export_dataset(raw, "recordio", root / "rec", image_format="jpg")
    return root / "rec"


def recipe_for(rec: Path, width: int, batch: int, workers: int, steps: int):
    from hypercli.recipe import build_recipe

    return build_recipe({
        "name": "bench-sphereface20", "seed": 0,
        "data": {"name": "recordio", "root": str(rec), "augment": ["flip"],
                 "batch_size": batch, "workers": workers, "eval_batch_size": 64},
        "model": {"name": "sphereface20", "args": {"width": width}},
        "loss": {"name": "asoftmax", "args": {"m": 4}},
        "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
        "schedule": {"name": "constant"},
        "train": {"steps": steps, "device": "cpu", "channels_last": True, "amp": False,
                  "eval_every": 0},
    })


def run_hyper(recipe, out: Path) -> float:
    from hypercli.engine import train

    summary = train(recipe, out_dir=out, progress=False)
    return summary["train_images_per_second"]


class RecDataset(torch.utils.data.Dataset):
    """The plain loop's dataset: the images of a .rec file, Pillow-decoded, mirrored."""

    def __init__(self, rec: Path) -> None:
        from torchvision.transforms import v2

        from hypercli.data.readers.recordio import recordio

        self.reader = recordio(root=str(rec)).train
        self.t = v2.Compose([v2.RandomHorizontalFlip(), v2.PILToTensor()])

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int):
        from PIL import Image

        data, label = self.reader.read(i)
        return self.t(Image.open(io.BytesIO(data)).convert("RGB")), label


def run_plain(recipe, rec: Path) -> float:
    from torch.utils.data import DataLoader

    from hypercli.data import build_data
    from hypercli.models import create_model

    torch.manual_seed(recipe.seed)
    data = build_data(recipe.data, recipe.seed)
    model = create_model(recipe, data.num_classes, 3, data.image_size, data.mean, data.std)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    dl = DataLoader(RecDataset(rec), batch_size=recipe.data.batch_size, shuffle=True,
                    num_workers=recipe.data.workers, persistent_workers=True)
    steps, n, t0 = recipe.train.steps, 0, time.perf_counter()
    while steps > 0:
        for x, y in dl:
            x = x.float().div_(255).contiguous(memory_format=torch.channels_last)
            loss, _ = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += len(y)
            steps -= 1
            if steps == 0:
                break
    return n / (time.perf_counter() - t0)


def verification_time(width: int, pairs: int = 6000) -> dict[str, float]:
    """Seconds to embed a 6,000-pair .bin set (12,000 images, 112x112) and to run each
    protocol on the embeddings."""
    from hypercli.engine.embed import embed
    from hypercli.models import create_model
    from hypercli.recipe import build_recipe
    from hypercli.registry import PROTOCOLS

    recipe = build_recipe({"model": {"name": "sphereface20",
                                     "args": {"width": width, "crop": "insightface"}},
                           "loss": {"name": "asoftmax"}})
    torch.manual_seed(0)
    model = create_model(recipe, 10, 3, (112, 112)).to(memory_format=torch.channels_last)
    x, _ = face_images(2 * pairs, 10, hw=(112, 112))
    issame = np.arange(pairs) % 2 == 0
    out: dict[str, float] = {}
    for flip in ("sum", "concat"):
        t0 = time.perf_counter()
        emb = embed(model, (x[i : i + 500] for i in range(0, len(x), 500)), "cpu", flip)
        out[f"embed_flip_{flip}_s"] = time.perf_counter() - t0
        name = "insightface" if flip == "sum" else "sphereface"
        t0 = time.perf_counter()
        PROTOCOLS.get(name)(emb[0::2].numpy(), emb[1::2].numpy(), issame)
        out[f"protocol_{name}_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--classes", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-verify", action="store_true", help="skip the verification timing")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    best = {"hyper train": 0.0, "plain loop": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        rec = write_rec(Path(tmp), a.images, a.classes)
        recipe = recipe_for(rec, a.width, a.batch, a.workers, a.steps)
        for r in range(a.repeats):
            best["hyper train"] = max(best["hyper train"],
                                      run_hyper(recipe, Path(tmp) / f"run{r}"))
            best["plain loop"] = max(best["plain loop"], run_plain(recipe, rec))
    result = {"width": a.width, "batch": a.batch, "steps": a.steps, "workers": a.workers,
              "threads": a.threads, "images_per_s": best,
              "ratio_hyper_vs_plain": best["hyper train"] / best["plain loop"]}
    if not a.no_verify:
        result["verification_6000_pairs"] = verification_time(a.width)
    if a.json:
        print(json.dumps(result, indent=1))
        return
    print(f"| SphereFace-20 (width {a.width}), batch {a.batch}, {a.steps} steps | images/s |")
    print("|---|---:|")
    for k, v in best.items():
        print(f"| {k} | {v:.1f} |")
    print(f"| ratio hyper / plain | {result['ratio_hyper_vs_plain']:.3f} |")
    if "verification_6000_pairs" in result:
        print("\n| verification, 6,000 pairs (12,000 images) | seconds |\n|---|---:|")
        for k, v in result["verification_6000_pairs"].items():
            print(f"| {k} | {v:.2f} |")


if __name__ == "__main__":
    main()
