"""``hyper train``: train a recipe, write a run directory, print the test accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hypercli.cli.common import console, print_json, user_errors


@user_errors
def train(
    recipe: Annotated[str | None, typer.Option(
        "--recipe", "-r", help="Recipe file or bundled recipe name (see `hyper list`).")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", "-s", help="Override a recipe value: key.path=value (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Run directory (default runs/<recipe>/<timestamp>).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out from its last checkpoint.")] = False,
    device: Annotated[str | None, typer.Option(
        help="auto, cpu or cuda (default: the recipe's train.device).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    nproc: Annotated[int, typer.Option(
        help="Launch N processes with torchrun (DistributedDataParallel; gloo on CPU, NCCL "
             "on GPUs). Same as `torchrun --nproc-per-node N $(which hyper) train ...`.",
        min=1)] = 1,
) -> None:
    """Train a model from a recipe on real data (Fashion-MNIST by default).

    Ctrl-C or SIGTERM stops after the current step with a checkpoint (exit code 130 or 143);
    --resume continues it exactly.
    """
    import os

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        args = ["train"] + (["--recipe", recipe] if recipe else [])
        args += [a for s in (set_ or []) for a in ("--set", s)]
        args += (["--out", str(out)] if out else []) + (["--resume"] if resume else [])
        args += (["--device", device] if device else []) + (["--json"] if json_out else [])
        args += [] if progress else ["--no-progress"]
        raise typer.Exit(_torchrun(nproc, args))
    from hypercli.engine import read_checkpoint
    from hypercli.engine import train as run_training
    from hypercli.errors import HyperError
    from hypercli.recipe import apply_overrides, load_recipe

    if device not in (None, "auto", "cpu", "cuda"):
        raise HyperError(f"--device {device!r}: use auto, cpu or cuda")
    if resume:
        if out is None:
            raise HyperError("--resume needs --out DIR: the run directory to continue")
        if recipe is not None:
            raise HyperError("--resume continues the recipe stored in the run; drop --recipe "
                             "(use --set to change values such as train.epochs)")
        rec = apply_overrides(read_checkpoint(out)["recipe"], set_ or [],
                              f"{out}/checkpoint.pt")
    else:
        if recipe is None:
            raise HyperError("no recipe: pass --recipe NAME (e.g. fmnist-quick; `hyper list` "
                             "shows the bundled ones)")
        rec = load_recipe(recipe, set_ or [])
    try:
        summary = run_training(rec, out_dir=out, resume=resume, device=device,
                               progress=progress, console=console)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if summary.get("interrupted"):  # 130 after Ctrl-C (SIGINT), 143 after SIGTERM
        raise typer.Exit(summary.get("exit_code", 130))
    summary.pop("history", None)
    if json_out:
        print_json(summary)
        return
    after = (f"after {summary['epochs']} epochs, {summary['wall_seconds']:.0f} s, "
             f"{summary['train_images_per_second']:.0f} training images/s -> {summary['run_dir']}")
    if rec.task == "gan":
        grid = f", samples {summary['samples']}" if summary.get("samples") else ""
        console.print(f"[bold green]D loss {summary['d_loss']:.4f}, G loss "
                      f"{summary['g_loss']:.4f}[/] (D(x) {summary['d_real']:.3f}, D(G(z)) "
                      f"{summary['d_fake']:.3f}){grid} {after}")
        return
    acc = summary["test_accuracy"]
    console.print(f"[bold green]test accuracy {acc:.2%}[/] (loss {summary['test_loss']:.4f}) "
                  + after)


def _torchrun(nproc: int, args: list[str]) -> int:
    """Run ``hyper`` under PyTorch's own launcher (torch.distributed.run) on this machine."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "hypercli", *args]
    console.print(f"[dim]launching: {' '.join(cmd[1:])}[/]")
    return subprocess.call(cmd)
