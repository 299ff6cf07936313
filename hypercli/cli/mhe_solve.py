"""``hyper mhe-solve``: N points on the sphere of minimal hyperspherical energy (Thomson)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hypercli.cli.common import console, print_json, user_errors


@user_errors
def mhe_solve(
    n: Annotated[int, typer.Option("--n", help="Number of points (>= 2).")],
    dim: Annotated[int, typer.Option(help="Ambient dimension: points on S^(dim-1).")] = 3,
    s: Annotated[str, typer.Option(
        "--s", help="Energy: 1 Coulomb (Thomson), 0 log, 2, any positive real; "
                    "a0, a1, a2 angular.")] = "1",
    half_space: Annotated[bool, typer.Option(
        "--half-space", help="Score [X, -X] (half-space MHE, antipodal points).")] = False,
    restarts: Annotated[int, typer.Option(
        help="Local descents in all: --population random starts, then children of the "
             "best minima (more for large N).")] = 20,
    population: Annotated[int, typer.Option(
        help="Random starts solved together, and children per generation.")] = 20,
    mutation: Annotated[float, typer.Option(
        help="Fraction of the children that are local moves (basin hopping) rather than "
             "cut-and-splice crossovers; about 0.5 for a few hundred points.")] = 0.0,
    target: Annotated[float | None, typer.Option(
        help="Stop once the energy reaches this value, e.g. a published minimum.")] = None,
    time_limit: Annotated[float | None, typer.Option(
        help="Stop starting new descents after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the starts.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Write the points to this CSV file (one row per point).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Draw the points (circle for dim 2, sphere for dim 3) to PNG/SVG/PDF.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(
        help="CPU threads while solving; 0: torch's default (see hypercli.mhe.thomson).")] = 1,
) -> None:
    """Find N unit vectors in R^dim of minimal pair energy (Thomson problem: s=1).

    Prints the total energy Σ_{i<j} as published Thomson tables do,
    the smallest angle, how many descents reached the best value, the wall time.
    """
    _check_arguments(n, threads, min(population, restarts), device)
    from hypercli.mhe.thomson import solve
    from hypercli.viz.figure import check_output_path

    if plot is not None:
        check_output_path(plot)  # fail before solving, not after
    if out is not None:
        _check_csv_path(out)
    with console.status("solving", spinner="dots") as status:
        def show(done: int, best: float) -> None:
            status.update(f"{done} of {restarts} descents, best energy {best:.9f}")

        result = solve(n, dim, s, restarts=restarts, seed=seed, half_space=half_space,
                       population=population, device=device, threads=threads or None,
                       mutation=mutation, target=target, time_limit=time_limit,
                       callback=show)
    payload = result.to_dict()
    if out is not None:
        payload["out"] = str(_write_csv(out, result.points))
    if plot is not None:
        payload["plot"] = str(_plot(plot, result))
    if json_out:
        print_json(payload)
        return
    _print(payload)


# float64 (B, N, N) tensors the descent holds at once: the cosines / distances, the pair
# derivatives and one temporary (hypercli.mhe.thomson._energy_fn)
_PAIR_TENSORS = 3


def _check_arguments(n: int, threads: int, batch: int, device: str) -> None:
    """Refuse a thread count below 0, and an N whose pair matrices cannot fit in memory."""
    from hypercli.errors import HyperError

    if threads < 0:
        raise HyperError(f"--threads {threads}: give a count >= 1, or 0 for torch's default")
    if n < 2 or batch < 1:
        return  # the solver names these
    need = _PAIR_TENSORS * batch * n * n * 8
    free, where = _free_memory(device)
    if free is not None and need > free:
        raise HyperError(f"--n {n}: the solver would need about {_size(need)} of memory "
                         f"({batch} starts x N^2 pair values x {_PAIR_TENSORS} float64 "
                         f"tensors), more than the {_size(free)} free {where}; lower --n or "
                         "--population")


def _free_memory(device: str) -> tuple[int | None, str]:
    """Free bytes where the solver will run (GPU memory on CUDA, else available RAM)."""
    if device in ("cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.mem_get_info()[0], "on the GPU"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "in RAM"
    except OSError:
        pass
    return None, ""


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"


def _check_csv_path(path: Path) -> None:
    from hypercli.errors import HyperError

    if path.is_dir():
        raise HyperError(f"--out {str(path)!r} is a directory; give a file name such as points.csv")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HyperError(f"--out {str(path)!r}: cannot create its folder ({exc})") from None


def _write_csv(path: Path, points) -> Path:  # noqa: ANN001  (numpy array (N, d))
    import numpy as np

    d = points.shape[1]
    header = ",".join("xyz"[i] if d <= 3 else f"x{i + 1}" for i in range(d))
    import io

    from hypercli.engine.io import atomic_write_text

    buf = io.StringIO()
    np.savetxt(buf, points, delimiter=",", header=header, comments="", fmt="%.17g")
    atomic_write_text(path, buf.getvalue())  # a full disk: one line, no temp file left
    return path


def _plot(path: Path, result) -> Path:  # noqa: ANN001  (ThomsonResult)
    import numpy as np

    from hypercli.viz import plot_points, save_figure

    pts = result.points
    if result.half_space:
        pts = np.concatenate([pts, -pts])
    what = f"[X, -X], N={result.n}" if result.half_space else f"N={result.n}"
    title = f"{what} on S^{result.dim - 1}, s={result.s}: energy {result.energy:.9f}"
    return save_figure(plot_points(pts, title=title), path)


def _print(r: dict) -> None:
    from rich.table import Table

    table = Table(title="minimum hyperspherical energy", title_justify="left")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    space = " (half-space: [X, -X])" if r["half_space"] else ""
    table.add_row("points", f"{r['n']} on S^{r['dim'] - 1}{space}")
    table.add_row("energy s", r["s"])
    table.add_row("total energy Σ_{i<j}", f"{r['energy']:.9f}")
    table.add_row("smallest angle", f"{r['min_angle']:.4f}°")
    table.add_row("descents reaching it", f"{r['hits']} of {r['restarts']}")
    if r["stopped"] != "restarts":
        table.add_row("stopped early", "target reached" if r["stopped"] == "target"
                      else "time limit")
    table.add_row("wall time", f"{r['seconds']:.2f} s on {r['device']}")
    for key in ("out", "plot"):
        if key in r:
            table.add_row(f"wrote ({key})", r[key])
    console.print(table)
