"""The face pipeline end to end on real images in the real face formats: a labelled proxy.

No face data can be downloaded here, so this builds the formats a face user has from real
Fashion-MNIST images, trains SphereFace-20 on them with each margin head, and verifies
the unseen classes under both protocols (faces.md §2):

- training set: Fashion-MNIST classes 0-5 (36,000 images), resized 28 -> 112 px, gray ->
  RGB, JPEG quality 95, as insightface RecordIO (``train.rec/.idx/property``, header record
  and identity records), written by ``hyper data export``'s writer; the test images of the
  same classes as its test split (closed-set accuracy);
- verification sets from the test images of the unseen classes 6-9 (Shirt, Sneaker, Bag,
  Ankle boot as four "identities" of 1,000 images each): 6,000 pairs in LFW's layout (10
  folds of 300 same and 300 different pairs), written twice: as an insightface ``.bin``
  (``lfw-proxy.bin``: JPEG bytes as uint8 arrays and the issame list) and as an LFW
  ``pairs.txt`` with its ``Name/Name_%04d.jpg`` tree;
- the network: ``sphereface20`` at a small width with ``model.args.crop: insightface``
  (the 112x112 crops lose 8 columns each side -> SphereFace's 112x96), recipe
  ``sphereface20-fmnist-proxy``.

These are NOT face numbers: four clothing classes are far easier to tell apart than 6,000
people, and 6 training classes teach little about identity. They show that the pipeline
runs and how the heads and protocols compare on it; face numbers need face data.

    python scripts/face_proxy.py                       # data, 4 heads, both protocols
    python scripts/face_proxy.py --out DIR --reuse     # re-verify / re-print finished runs
"""

from __future__ import annotations

import argparse
import io
import pickle
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TRAIN_CLASSES = [0, 1, 2, 3, 4, 5]
PAIR_CLASSES = {6: "Shirt", 7: "Sneaker", 8: "Bag", 9: "Ankle_boot"}
SIZE = 112


def to_face_crops(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) -> uint8 (N, 3, 112, 112): bilinear upsampling, gray -> RGB."""
    out = []
    for i in range(0, len(images), 2000):
        x = F.interpolate(images[i : i + 2000].float(), size=(SIZE, SIZE), mode="bilinear",
                          align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous())
    return torch.cat(out)


def jpeg(img: torch.Tensor) -> bytes:
    """uint8 (3, H, W) -> JPEG bytes (quality 95, Pillow), as insightface packs its sets."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy(), "RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def lfw_pairs(labels: np.ndarray, seed: int = 0, folds: int = 10, per_half: int = 300):
    """LFW's layout: ``folds`` blocks of ``per_half`` same pairs then ``per_half`` different
    pairs; returns a list of (index0, index1, same) over ``labels`` (indices into them).
    Same pairs: two distinct images of one class; different: images of two classes."""
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels.tolist()))
    members = {c: np.flatnonzero(labels == c) for c in classes}
    pairs = []
    for _ in range(folds):
        for _ in range(per_half):
            c = classes[rng.integers(len(classes))]
            a, b = rng.choice(members[c], 2, replace=False)
            pairs.append((int(a), int(b), True))
        for _ in range(per_half):
            c0, c1 = rng.choice(classes, 2, replace=False)
            pairs.append((int(rng.choice(members[c0])), int(rng.choice(members[c1])), False))
    return pairs


def build_data(out: Path, seed: int = 0) -> dict[str, Path]:
    """Write the proxy face data under ``out`` (skipped when it is there); returns paths."""
    from hypercli.data.base import RawDataset, Split
    from hypercli.data.export import export_dataset
    from hypercli.data.fashion_mnist import CLASSES, fashion_mnist
    from hypercli.engine.io import atomic_write_bytes, atomic_write_text

    paths = {"train": out / "train", "bin": out / "lfw-proxy.bin",
             "pairs": out / "lfw-proxy" / "pairs.txt", "images": out / "lfw-proxy"}
    raw = fashion_mnist()
    if not paths["train"].exists():
        def pick(split: Split) -> Split:
            keep = torch.isin(split.labels, torch.tensor(TRAIN_CLASSES))
            return Split(to_face_crops(split.images[keep]), split.labels[keep])

        data = RawDataset(pick(raw.train), pick(raw.test),
                          [CLASSES[c] for c in TRAIN_CLASSES], mean=[0.5] * 3, std=[0.5] * 3)
        export_dataset(data, "recordio", paths["train"], image_format="jpg",
                       source="Fashion-MNIST classes 0-5 at 112x112 RGB (face proxy)")
    if not paths["bin"].exists() or not paths["pairs"].exists():
        keep = torch.isin(raw.test.labels, torch.tensor(list(PAIR_CLASSES)))
        images = to_face_crops(raw.test.images[keep])
        labels = raw.test.labels[keep].numpy()
        pairs = lfw_pairs(labels, seed)
        # image number within its class (1-based, LFW's Name_%04d), and its JPEG bytes
        number = np.zeros(len(labels), dtype=np.int64)
        for c in PAIR_CLASSES:
            idx = np.flatnonzero(labels == c)
            number[idx] = np.arange(1, len(idx) + 1)
        encoded = [jpeg(img) for img in images]
        for i, data in enumerate(encoded):
            name = PAIR_CLASSES[int(labels[i])]
            path = paths["images"] / name / f"{name}_{number[i]:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        lines = ["10\t300"]
        for a, b, same in pairs:
            na, nb = PAIR_CLASSES[int(labels[a])], PAIR_CLASSES[int(labels[b])]
            lines.append(f"{na}\t{number[a]}\t{number[b]}" if same else
                         f"{na}\t{number[a]}\t{nb}\t{number[b]}")
        atomic_write_text(paths["pairs"], "\n".join(lines) + "\n")
        bins = [np.frombuffer(encoded[i], dtype=np.uint8) for a, b, _ in pairs for i in (a, b)]
        issame = [same for _, _, same in pairs]
        atomic_write_bytes(paths["bin"], pickle.dumps((bins, issame), protocol=4))
    return paths


HEADS = {  # the README's rows: loss.name, its arguments and any other recipe settings
    "softmax": ({}, []),
    "asoftmax": ({"m": 4}, []),  # SphereFace: m=4, base 1000, gamma 0.12, lambda_min 5
    # opensphere's SFNet-20 settings (config/train/sec31/vggface2_sfnet20_{cosface,arcface}
    # .yml): s=30 and max_grad_norm 10; at insightface's s=64 this network without BatchNorm
    # does not train here (CosFace 44.6%, ArcFace 16.7% = chance on the closed set)
    "cosface": ({"s": 30.0, "m": 0.35}, ["train.grad_clip=10"]),
    "arcface": ({"s": 30.0, "m": 0.5}, ["train.grad_clip=10"]),
}
PROTOCOLS = ("insightface", "sphereface")


def run_head(head: str, out: Path, paths: dict[str, Path], epochs: float, reuse: bool,
             quiet) -> dict:
    """Train the proxy recipe with ``head`` (unless ``reuse`` finds the run) and verify it on
    the .bin and the pairs.txt under both protocols."""
    from hypercli.engine import train
    from hypercli.engine.checkpoint import FILENAME
    from hypercli.recipe import load_recipe
    from hypercli.verification import verify_checkpoint

    run = out / head
    sets = [("bin", paths["bin"], None), ("pairs.txt", paths["pairs"], paths["images"])]
    args, extra = HEADS[head]
    overrides = [f"loss.name={head}", f"loss.args={args}", *extra,
                 f"data.root={paths['train']}", "eval.verify=[]", f"train.epochs={epochs}"]
    if not (reuse and (run / FILENAME).exists() and (run / "summary.json").exists()):
        train(load_recipe("sphereface20-fmnist-proxy", overrides), out_dir=run,
              progress=True, console=quiet)
    import json

    summary = json.loads((run / "summary.json").read_text())
    row = {"head": head, "args": args, "extra": extra, "run": str(run),
           "test_accuracy": summary["test_accuracy"],
           "train_seconds": summary["train_seconds"], "epochs": epochs, "verify": {}}
    for protocol in PROTOCOLS:
        for kind, path, images in sets:
            r = verify_checkpoint(run, [path], protocol, "cpu", images=images)["sets"][0]
            row["verify"][f"{kind}/{protocol}"] = {
                k: r[k] for k in ("accuracy", "accuracy_std", "threshold", "xnorm",
                                  "tar@far=0.001", "tar@far=0.0001", "eer", "auc")}
    return row


def table(rows: list[dict]) -> str:
    from _reproduce import markdown_table  # scripts/_reproduce.py, beside this file

    body = []
    for r in rows:
        for protocol in PROTOCOLS:
            v = r["verify"][f"bin/{protocol}"]
            same = v == r["verify"][f"pairs.txt/{protocol}"]
            shown = r["head"] + "".join(f" {k}={v:g}" for k, v in r["args"].items()) + \
                ("" if not r["extra"] else ", clip 10")
            body.append([shown, protocol,
                         f"{100 * v['accuracy']:.2f} ± {100 * v['accuracy_std']:.2f}",
                         f"{100 * v['tar@far=0.001']:.2f}", f"{100 * v['eer']:.2f}",
                         f"{v['auc']:.4f}", f"{100 * r['test_accuracy']:.2f}",
                         "yes" if same else "NO"])
    head = ["head", "protocol", "10-fold accuracy %", "TAR@FAR=1e-3 %", "EER %", "AUC",
            "closed-set test %", ".bin = pairs.txt"]
    notes = ("A proxy, not face numbers: Fashion-MNIST classes 0-5 as 112x112 RecordIO "
             "faces for training, 6,000 LFW-layout pairs of the unseen classes 6-9 for "
             "verification, sphereface20 at width 8 with the insightface crop, "
             f"{rows[0]['epochs']:g} epochs each. The same pairs are scored from the .bin "
             "and from the pairs.txt tree; the last column says whether both gave the same "
             "numbers.")
    return markdown_table(head, body, notes, right_from=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/face-proxy"))
    ap.add_argument("--data-only", action="store_true", help="build the data and stop")
    ap.add_argument("--heads", nargs="+", default=list(HEADS), choices=list(HEADS))
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--reuse", action="store_true", help="keep finished runs, re-verify")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from _reproduce import finish, start

    _, log, quiet = start(args.out, "face-proxy", args.threads)
    t0 = time.perf_counter()
    paths = build_data(args.out / "data")
    log.print(f"data in {args.out / 'data'} ({time.perf_counter() - t0:.0f} s)")
    if args.data_only:
        return
    rows = []
    for head in args.heads:
        t1 = time.perf_counter()
        rows.append(run_head(head, args.out, paths, args.epochs, args.reuse, quiet))
        v = rows[-1]["verify"]
        log.print(f"{head:9s} insightface {v['bin/insightface']['accuracy']:.2%}  sphereface "
                  f"{v['bin/sphereface']['accuracy']:.2%}  ({time.perf_counter() - t1:.0f} s)")
    finish(args.out, table(rows), rows, log, t0)


if __name__ == "__main__":
    main()
