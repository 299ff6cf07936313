"""Top-5 accuracy: a hand-computed case, only with more than 5 classes, and through train and
``hyper eval`` against a plain Python reference."""

from __future__ import annotations

import json

import torch
import yaml
from typer.testing import CliRunner

from hypercli.cli.main import app
from hypercli.data.base import Split
from hypercli.engine.checkpoint import load_checkpoint
from hypercli.engine.evaluate import evaluate, predict, topk_accuracy
from hypercli.recipe import build_recipe
from tests.conftest import tiny_tree

runner = CliRunner()


def test_topk_by_hand():
    logits = torch.tensor([
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],  # label 5 is 6th largest: out of the top 5
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],  # label 2 is 5th largest: in
        [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # label 0 is the largest: in (top-1 too)
        [0.0, 3.0, -1.0, 2.0, 1.0, -2.0, 4.0],  # label 2 is 6th largest: out
    ])
    labels = torch.tensor([5, 2, 0, 2])
    assert topk_accuracy(logits, labels, 5) == 2 / 4
    assert topk_accuracy(logits, labels, 1) == 1 / 4
    assert topk_accuracy(logits, labels, 6) == 4 / 4


class _Fixed(torch.nn.Module):
    """A 'model' whose logits are given: row i of ``table`` for the image whose pixel is i."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[(x[:, 0, 0, 0] * 255).round().long()]  # images arrive in [0, 1]


def test_evaluate_reports_top5_only_beyond_five_classes():
    g = torch.Generator().manual_seed(0)
    for k in (5, 6, 12):
        n = 40
        table = torch.randn(n, k, generator=g)
        labels = torch.randint(0, k, (n,), generator=g)
        images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1)
        out = evaluate(_Fixed(table), Split(images, labels), num_classes=k)
        if k <= 5:
            assert "top5_accuracy" not in out
            continue
        hits = sum(int(labels[i]) in sorted(range(k), key=lambda j: -float(table[i, j]))[:5]
                   for i in range(n))
        assert out["top5_accuracy"] == hits / n
        assert out["top5_accuracy"] >= out["accuracy"]


def test_train_and_eval_report_top5(tmp_path):
    tree = tiny_tree(data={"name": "synthetic", "batch_size": 32,
                           "args": {"train_size": 256, "test_size": 96, "image_size": 16,
                                    "num_classes": 8}},
                     train={"epochs": 1, "device": "cpu"})
    recipe = tmp_path / "tiny8.yaml"
    recipe.write_text(yaml.safe_dump(tree))
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--recipe", str(recipe), "--no-progress", "--json",
                              "--out", str(run)])
    assert res.exit_code == 0, res.output
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    res = runner.invoke(app, ["eval", "--checkpoint", str(run), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    # reference: the checkpoint's logits on the test images, ranked by plain sorting
    model, _ = load_checkpoint(run / "checkpoint.pt", torch.device("cpu"))
    from hypercli.data import load_data

    test = load_data(build_recipe(tree).data, 0).test
    logits = predict(model, test.images)
    hits = sum(int(y) in sorted(range(8), key=lambda j: -float(row[j]))[:5]
               for row, y in zip(logits, test.labels, strict=True))
    assert out["top5_accuracy"] == record["test_top5_accuracy"] == hits / len(test.labels)
    res = runner.invoke(app, ["eval", "--checkpoint", str(run)])
    assert res.exit_code == 0 and "top-5" in res.output
