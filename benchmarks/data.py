"""Images/s of the streamed loaders (folder, webdataset, recordio) against a plain
torchvision ImageFolder + DataLoader and against the raw decode rate, side by side.

The benchmark writes its own JPEGs (smooth random colour fields plus noise, quality 90):
224x224 ImageNet-sized images read with RandomResizedCrop(224) + flip, and 112x112
face-sized ones read with a flip only (insightface's augmentation). Every loader uses the
same transforms (torchvision v2 on PIL images), the same batch size and the same number
of worker processes; the baseline is ``torchvision.datasets.ImageFolder`` with Pillow's
loader and ``torch.utils.data.DataLoader``. The raw decode rate is one core decoding
(Pillow) and transforming in a loop from bytes already in memory: the physical limit of a
worker. Targets (issue 13): each loader at least 1.0x ImageFolder, and its images/s per
worker within 15% of the raw rate (ratio >= 0.85). Each loader runs ``--epochs`` epochs
after a warm-up epoch (worker start-up) and reports its best epoch; loaders are
interleaved per epoch so that machine load hits all alike.

    python benchmarks/data.py                      # 512 images per set, 2 workers
    python benchmarks/data.py --images 2000 --workers 4 --json
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


def make_images(n: int, size: int, classes: int, seed: int = 0):
    """uint8 (n, 3, size, size) smooth colour fields + noise, and labels."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 6, 6, generator=g)
    x = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    x = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return (x * 255).round().to(torch.uint8), torch.arange(n) % classes


def write_sets(root: Path, n: int, size: int, classes: int = 10) -> dict[str, Path]:
    from hypercli.data.base import RawDataset, Split
    from hypercli.data.export import export_dataset

    x, y = make_images(n, size, classes)
    raw = RawDataset(Split(x, y), Split(x[:8], y[:8]), [f"c{i}" for i in range(classes)],
                     [0.5] * 3, [0.25] * 3)
    out = {}
    for fmt in ("folder", "webdataset", "recordio"):
        out[fmt] = root / f"{size}-{fmt}"
        export_dataset(raw, fmt, out[fmt], image_format="jpg", shard_size=max(1, n // 8))
    return out


def transform(size: int, face: bool):
    from torchvision.transforms import v2

    t = [] if face else [v2.RandomResizedCrop(size, antialias=True)]
    return v2.Compose([*t, v2.RandomHorizontalFlip(), v2.PILToTensor()])


def imagefolder_loader(root: Path, size: int, face: bool, batch: int, workers: int):
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(root / "train"), transform=transform(size, face))
    dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                    persistent_workers=workers > 0, prefetch_factor=2 if workers else None)
    return lambda: sum(len(y) for _, y in dl)


def hyper_loader(fmt: str, root: Path, size: int, face: bool, batch: int, workers: int):
    from hypercli.data import build_data
    from hypercli.recipe import DataConfig

    augment = ["flip"] if face else ["random-resized-crop", "flip"]
    cfg = DataConfig(name=fmt, root=str(root), batch_size=batch, workers=workers,
                     augment=augment, image_size=size)
    loader = build_data(cfg).train_loader(cfg, 0, torch.device("cpu"))
    state = {"epoch": 0}

    def epoch() -> int:
        loader.set_epoch(state["epoch"])
        state["epoch"] += 1
        return sum(len(y) for _, y in loader.batches())
    return epoch


def raw_rate(root: Path, size: int, face: bool, seconds: float = 3.0) -> float:
    """Images/s of one core: Pillow decode + the same transform, bytes in memory."""
    from PIL import Image

    files = sorted((root / "train").rglob("*.jpg"))
    blobs = [f.read_bytes() for f in files]
    t = transform(size, face)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for b in blobs:
            img = Image.open(io.BytesIO(b)).convert("RGB")
            t(img)
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, face in ((224, False), (112, True)):
            sets = write_sets(Path(tmp), a.images, size)
            raw = raw_rate(sets["folder"], size, face)
            loaders = {"ImageFolder": imagefolder_loader(sets["folder"], size, face, a.batch,
                                                         a.workers)}
            for fmt in ("folder", "webdataset", "recordio"):
                loaders[fmt] = hyper_loader(fmt, sets[fmt], size, face, a.batch, a.workers)
            best = {k: 0.0 for k in loaders}
            for ep in range(a.epochs + 1):
                for k, run in loaders.items():
                    t0 = time.perf_counter()
                    n = run()
                    if ep > 0:  # epoch 0 starts the workers
                        best[k] = max(best[k], n / (time.perf_counter() - t0))
            base = best["ImageFolder"]
            for k, ips in best.items():
                rows.append({"images": f"{size}x{size}" + (" faces" if face else ""),
                             "loader": k, "images_per_s": ips, "vs_imagefolder": ips / base,
                             "per_worker_vs_raw": ips / (max(a.workers, 1) * raw)})
            rows.append({"images": f"{size}x{size}" + (" faces" if face else ""),
                         "loader": "raw decode (1 core)", "images_per_s": raw,
                         "vs_imagefolder": raw / base, "per_worker_vs_raw": 1.0})
    if a.json:
        print(json.dumps(rows))
        return
    print(f"{a.images} images per set, batch {a.batch}, {a.workers} workers, best of "
          f"{a.epochs} epochs")
    print("| images | loader | images/s | vs ImageFolder | per worker vs raw decode |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['images']} | {r['loader']} | {r['images_per_s']:.0f} | "
              f"{r['vs_imagefolder']:.2f}x | {r['per_worker_vs_raw']:.2f} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
