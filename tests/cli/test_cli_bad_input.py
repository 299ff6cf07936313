"""Bad files, full disks and bad values on the command line: one line, exit code 2, nothing
of the user's lost (no temp file left, the previous checkpoint intact)."""

from __future__ import annotations

import errno
import os

import pytest
import torch
import yaml
from typer.testing import CliRunner

from hypercli.cli.main import app
from tests.conftest import tiny_tree

runner = CliRunner()


def one_line_error(args, *words):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (args, res.output, res.exception)
    assert "Traceback" not in res.output, res.output
    # exactly one error message (rich may wrap it over lines)
    assert res.output.count("error:") == 1, res.output
    text = " ".join(res.output[res.output.index("error:"):].split())
    for w in words:
        assert w in text, (args, text)
    return text


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_tree(train={"epochs": 0.25, "device": "cpu"})))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from hypercli.engine import train
    from hypercli.recipe import build_recipe

    out = tmp_path_factory.mktemp("cli") / "run"
    train(build_recipe(tiny_tree(train={"epochs": 0.25, "device": "cpu"})), out_dir=out,
          progress=False)
    return out


@pytest.mark.parametrize("eps", ["inf", "nan", "-1"])
def test_attack_budget_must_be_finite(eps):
    one_line_error(["attack", "--eps", eps], "--eps")


def test_mhe_solve_threads_and_memory():
    one_line_error(["mhe-solve", "--n", "12", "--threads", "-1"], "--threads -1")
    text = one_line_error(["mhe-solve", "--n", "1000000", "--device", "cpu"], "--n 1000000",
                          "would need about")
    assert "TiB" in text or "PiB" in text  # 3 x 20 x 1e12 x 8 bytes = 436.6 TiB
    assert "436.6 TiB" in text


@pytest.mark.parametrize("content", [os.urandom(256) + b"\xff\xfe", "épochs: 1".encode("latin-1")])
def test_recipe_files_that_are_not_utf8(tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    one_line_error(["train", "--recipe", str(path)], "not UTF-8")


@pytest.mark.parametrize("override, words", [
    ("train.epochs=1e400", ["train.epochs", "finite"]),
    ("train.epochs=1e308", ["train.epochs", "1000000"]),
    ("seed=36893488147419103232", ["seed"]),
    ("data.args.train_size=abc", ["train_size='abc'", "int"]),
    ("data.args.train_size=-5", ["train_size=-5", ">= 1"]),
    ("data.args.num_classes=0", ["num_classes=0", ">= 1"]),
    ("data.args.num_classes=1", ["1 class"]),
    ("model.args.widths=[-8,16]", ["widths=[-8, 16]", ">= 1"]),
    ("model.args.final_width=0", ["final_width=0", ">= 1"]),
    ("data.classes=[3]", ["at least two"]),
    ("optimizer.nesterov=true", []),  # fine with momentum 0.9
])
def test_recipe_values_out_of_range(recipe_file, tmp_path, override, words):
    args = ["train", "--recipe", str(recipe_file), "--set", override, "--out",
            str(tmp_path / "run"), "--no-progress"]
    if not words:
        assert runner.invoke(app, args).exit_code == 0
        return
    one_line_error(args, *words)


def test_nesterov_without_momentum(recipe_file):
    one_line_error(["train", "--recipe", str(recipe_file), "--set", "optimizer.momentum=0",
                    "--set", "optimizer.nesterov=true"], "nesterov")


def test_out_is_a_file_or_under_a_file(recipe_file, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error(["train", "--recipe", str(recipe_file), "--out", str(a_file)], str(a_file),
                   "not a folder")
    one_line_error(["train", "--recipe", str(recipe_file), "--out", str(a_file / "run")],
                   "cannot write", "Not a directory")


def test_default_run_folder_impossible(recipe_file, tmp_path, monkeypatch):
    blocker = tmp_path / "runs-file"
    blocker.write_text("x")
    monkeypatch.setenv("HYPER_RUNS", str(blocker))
    one_line_error(["train", "--recipe", str(recipe_file), "--no-progress"], "cannot write")


def _full_disk(monkeypatch, after=0):
    """Make every atomic write's data write fail with ENOSPC after ``after`` good ones."""
    import hypercli.engine.io as io_mod

    real = io_mod.os.fsync
    count = {"n": 0}

    def fsync(fd):
        count["n"] += 1
        if count["n"] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(io_mod.os, "fsync", fsync)


def test_full_disk_during_training_keeps_the_previous_checkpoint(recipe_file, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "run"
    assert runner.invoke(app, ["train", "--recipe", str(recipe_file), "--out", str(out),
                               "--no-progress"]).exit_code == 0
    before = (out / "checkpoint.pt").read_bytes()
    _full_disk(monkeypatch, after=1)  # recipe.yaml is written, the checkpoint is not
    one_line_error(["train", "--resume", "--out", str(out), "--set", "train.epochs=0.5",
                    "--no-progress"], "checkpoint.pt", "No space left on device",
                   "free some space")
    assert (out / "checkpoint.pt").read_bytes() == before
    assert not list(out.glob(".*.tmp"))


def test_full_disk_for_mhe_solve_leaves_no_temp_file(tmp_path, monkeypatch):
    _full_disk(monkeypatch)
    out = tmp_path / "pts.csv"
    one_line_error(["mhe-solve", "--n", "4", "--restarts", "1", "--out", str(out)],
                   str(out), "No space left")
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_mhe_solve_out_and_plot_paths(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error(["mhe-solve", "--n", "4", "--out", str(tmp_path)], "directory")
    one_line_error(["mhe-solve", "--n", "4", "--out", str(a_file / "p.csv")], "cannot")
    one_line_error(["mhe-solve", "--n", "4", "--plot", str(a_file / "p.png")], "is a file")


def test_save_adv_paths_and_full_disk(run_dir, tmp_path, monkeypatch):
    base = ["attack", "--checkpoint", str(run_dir), "--eps", "8", "--n", "8"]
    one_line_error([*base, "--save-adv", str(tmp_path)], "is a folder")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error([*base, "--save-adv", str(a_file / "adv.pt")], "not a folder")
    _full_disk(monkeypatch)
    one_line_error([*base, "--save-adv", str(tmp_path / "adv.pt")], "No space left")
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "adv.pt").exists()


@pytest.mark.parametrize("content", [b"", b"hello\n", os.urandom(64)])
def test_eval_of_files_that_are_not_checkpoints(tmp_path, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    one_line_error(["eval", "--checkpoint", str(path)], "not a readable checkpoint")


def test_eval_latest_pointer_garbage(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("HYPER_RUNS", str(runs))
    (runs / "LATEST").write_bytes(os.urandom(64) + b"\xff")
    one_line_error(["eval"], "LATEST")


def test_resume_with_a_shape_change_names_the_tensors(run_dir, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    one_line_error(["train", "--resume", "--out", str(out), "--set",
                    "model.args.final_width=8", "--no-progress"], "body.", "cannot change shape")


def test_a_folder_without_a_checkpoint_is_named_as_such(tmp_path):
    (tmp_path / "recipe.yaml").write_text("{}")  # a run that stopped before its first epoch
    one_line_error(["eval", "--checkpoint", str(tmp_path)], "folder without a checkpoint.pt")


def test_a_figure_whose_temp_file_cannot_be_made_is_one_line(monkeypatch, tmp_path):
    import tempfile

    from hypercli.errors import HyperError
    from hypercli.viz.figure import new_figure, save_figure

    def no_temp(*args, **kwargs):  # what /proc answers: the folder takes no new files
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(tempfile, "mkstemp", no_temp)
    with pytest.raises(HyperError, match="No such file or directory"):
        save_figure(new_figure((100, 100)), tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []


def test_data_export_under_a_file_or_onto_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    one_line_error(["data", "export", "synthetic", "--format", "recordio",
                    str(blocker / "out"), "--limit", "4"], "a part of the path is a file")
    one_line_error(["data", "export", "synthetic", "--format", "recordio", str(blocker),
                    "--limit", "4"], "is a file, not a folder")
    one_line_error(["mhe-solve", "--n", "5", "--out", str(blocker / "x.npy")],
                   "it is a file, not a folder")
