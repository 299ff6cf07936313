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
    restarts: Annotated[int | None, typer.Option(
        help="Local descents in all. Genetic: --population random starts, then children of "
             "the best minima (default 20). Portfolio: no limit by default.")] = None,
    population: Annotated[int | None, typer.Option(
        help="Starts solved together: random starts and children per generation (genetic, "
             "default 20), starts per step of one search (portfolio, default 8).")] = None,
    mutation: Annotated[float, typer.Option(
        help="Fraction of the children that are local moves (basin hopping) rather than "
             "cut-and-splice crossovers; about 0.5 for a few hundred points.")] = 0.0,
    target: Annotated[float | None, typer.Option(
        help="Stop once the energy reaches this value, e.g. a published minimum.")] = None,
    time_limit: Annotated[float | None, typer.Option(
        help="Stop starting new descents after this many seconds. Without it (and without "
             "--target, --restarts) the portfolio stops 10 s + the time to its best after "
             "its last improvement.")] = None,
    strategy: Annotated[str, typer.Option(
        help="auto (portfolio on S² from N=41, else genetic), portfolio (point-group "
             "constrained searches + free search, --dim 3) or genetic (splices and local "
             "moves, any dim).")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the starts.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Write the points to this .csv (one row per point, a header) or .npy (N, dim) "
             "float64 file, atomically.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Draw the points (circle for dim 2, sphere for dim 3, coloured by their number "
             "of Voronoi neighbours) to PNG/SVG/PDF.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(
        help="CPU threads while solving; 0: torch's default (see hypercli.mhe.thomson).")] = 1,
) -> None:
    """Find N unit vectors in R^dim of minimal pair energy (Thomson problem: s=1).

    Prints the total energy Σ_{i<j} as published Thomson tables do,
    its gap to the published minimum when known, the smallest angle,
    the point group and Voronoi defects (S²), the distinct minima visited,
    how many descents reached the best, and the wall time.
    """
    starts = [v for v in (population, restarts) if v is not None]
    _check_arguments(n, threads, min(starts) if starts else 20, device)  # 20: the default
    from hypercli.mhe.thomson import solve
    from hypercli.viz.figure import check_output_path

    if plot is not None:
        check_output_path(plot)  # fail before solving, not after
    if out is not None:
        _check_out_path(out)
    with console.status("solving", spinner="dots") as status:
        of = f" of {restarts}" if restarts is not None else ""

        def show(done: int, best: float) -> None:
            status.update(f"{done}{of} descents, best energy {best:.9f}")

        def progress(st) -> None:  # noqa: ANN001  (portfolio.Status)
            status.update(f"{st.seconds:6.1f} s  best {st.best:.9f}  {st.minima} distinct "
                          f"minima  {st.descents} descents  (last: {st.search})")

        result = solve(n, dim, s, restarts=restarts, seed=seed, half_space=half_space,
                       population=population, device=device, threads=threads or None,
                       mutation=mutation, target=target, time_limit=time_limit,
                       callback=show, strategy=strategy, progress=progress)
    payload = result.to_dict()
    if out is not None:
        payload["out"] = str(_write_points(out, result.points))
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


OUT_SUFFIXES = (".csv", ".npy")


def _check_out_path(path: Path) -> None:
    from hypercli.errors import HyperError

    if path.is_dir():
        raise HyperError(f"--out {str(path)!r} is a directory; give a file name such as points.csv")
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise HyperError(f"--out {str(path)!r}: unsupported extension; use .csv or .npy")
    from hypercli.engine.io import make_dirs

    make_dirs(path.parent)  # names a part of the path that is a file


def _write_points(path: Path, points) -> Path:  # noqa: ANN001  (numpy array (N, d))
    """CSV (header x,y,z or x1..xd, 17 significant digits) or .npy, written atomically."""
    import io

    import numpy as np

    from hypercli.engine.io import atomic_write_bytes

    buf = io.BytesIO()
    if path.suffix.lower() == ".npy":
        np.save(buf, np.ascontiguousarray(points, dtype=np.float64), allow_pickle=False)
    else:
        d = points.shape[1]
        header = ",".join("xyz"[i] if d <= 3 else f"x{i + 1}" for i in range(d))
        np.savetxt(buf, points, delimiter=",", header=header, comments="", fmt="%.17g")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _plot(path: Path, result) -> Path:  # noqa: ANN001  (ThomsonResult)
    import numpy as np

    from hypercli.viz import plot_points, save_figure

    pts = result.points
    if result.half_space:
        pts = np.concatenate([pts, -pts])
    what = f"[X, -X], N={result.n}" if result.half_space else f"N={result.n}"
    title = f"{what} on S^{result.dim - 1}, s={result.s}: energy {result.energy:.9f}"
    coord = None
    if result.dim == 3 and len(pts) >= 4:
        from hypercli.mhe.thomson.census import coordination_numbers

        coord = coordination_numbers(pts)
    return save_figure(plot_points(pts, title=title, coordination=coord), path)


def _print(r: dict) -> None:
    from rich.table import Table

    table = Table(title="minimum hyperspherical energy", title_justify="left")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    space = " (half-space: [X, -X])" if r["half_space"] else ""
    table.add_row("points", f"{r['n']} on S^{r['dim'] - 1}{space}")
    table.add_row("energy s", r["s"])
    table.add_row("total energy Σ_{i<j}", f"{r['energy']:.9f}")
    if r.get("published") is not None:
        reached = "reached" if abs(r["gap"]) <= 1e-9 else f"gap {r['gap']:+.2e} relative"
        table.add_row("published minimum", f"{r['published']:.9f} ({reached})")
    table.add_row("smallest angle", f"{r['min_angle']:.4f}°")
    if r.get("point_group"):
        g = r["point_group"]
        table.add_row("point group", f"{g['name']} (order {g['order']})")
    if r.get("census"):
        c = r["census"]
        coord = ", ".join(f"{v}×{k}" for k, v in c["coordination"].items())
        table.add_row("Voronoi neighbours", coord)
        table.add_row("defects", f"{c['scars']} scars (sizes {c['scar_sizes'] or '-'}), "
                                 f"{c['isolated']} isolated; charge {c['charge']}")
    table.add_row("distinct minima visited", str(r["minima"]))
    if r["strategy"] == "portfolio":
        table.add_row("search", f"portfolio; best from {r['found_by']} at "
                                f"{r['seconds_to_best']:.1f} s")
        table.add_row("polished candidates reaching it", str(r["hits"]))
        table.add_row("descents", str(r["restarts"]))
    else:
        table.add_row("descents reaching it", f"{r['hits']} of {r['restarts']}")
    if r["stopped"] != "restarts":
        table.add_row("stopped early", {"target": "target reached",
                                        "no improvement": "no improvement"}.get(
                                            r["stopped"], "time limit"))
    table.add_row("wall time", f"{r['seconds']:.2f} s on {r['device']}")
    for key in ("out", "plot"):
        if key in r:
            table.add_row(f"wrote ({key})", r[key])
    console.print(table)
