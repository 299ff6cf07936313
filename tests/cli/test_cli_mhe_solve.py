"""`hyper mhe-solve` through typer's CliRunner: table, JSON, CSV and plot files, errors."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from typer.testing import CliRunner

from hypercli.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_json_icosahedron_with_points_and_plot(tmp_path):
    out, png = tmp_path / "pts" / "ico.csv", tmp_path / "ico.png"
    res = runner.invoke(app, ["mhe-solve", "--n", "12", "--dim", "3", "--restarts", "5",
                              "--json", "--out", str(out), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["energy"] == pytest.approx(49.165253058, abs=1e-9)
    assert r["min_angle"] == pytest.approx(math.degrees(math.atan(2)), abs=1e-5)
    assert r["hits"] == 5 and r["restarts"] == 5 and r["seconds"] > 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["x", "y", "z"] and len(rows) == 13
    pts = [[float(v) for v in row] for row in rows[1:]]
    assert all(abs(math.hypot(*p) - 1) < 1e-12 for p in pts)
    energy = sum(1 / math.dist(a, b) for i, a in enumerate(pts) for b in pts[i + 1:])
    assert energy == pytest.approx(r["energy"], rel=1e-12)  # the CSV holds the full precision
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_half_space_on_the_circle():
    res = runner.invoke(app, ["mhe-solve", "--n", "3", "--dim", "2", "--half-space",
                              "--s", "2", "--restarts", "3"])
    assert res.exit_code == 0, res.output
    # [X, -X] on the circle: the regular hexagon, Σ_{i<j} r^-2 over its 15 pairs
    hexagon = sum(1 / (2 * math.sin(math.pi * k / 6)) ** 2 * (6 if k < 3 else 3)
                  for k in (1, 2, 3))
    assert f"{hexagon:.9f}" in res.output and "3 of 3" in res.output


def test_target_stops_early_and_says_so():
    ico = "49.165253058"  # the icosahedron: every start reaches it, so the search stops
    res = runner.invoke(app, ["mhe-solve", "--n", "12", "--restarts", "400", "--population",
                              "4", "--mutation", "0.5", "--target", ico])
    assert res.exit_code == 0, res.output
    assert ico in res.output and "4 of 4" in res.output and "target reached" in res.output
    res = runner.invoke(app, ["mhe-solve", "--n", "12", "--restarts", "8", "--population",
                              "4", "--json"])
    assert json.loads(res.stdout)["stopped"] == "restarts"


@pytest.mark.parametrize("args, message", [
    (["--n", "1"], "at least 2 points"),
    (["--n", "5", "--dim", "1"], "dim must be >= 2"),
    (["--n", "5", "--restarts", "-2"], "at least 1 start"),
    (["--n", "5", "--s", "b2"], "unknown MHE energy"),
    (["--n", "5", "--plot", "pts.txt"], "unsupported extension"),
    (["--n", "5", "--device", "tpu"], "unknown device"),
    (["--n", "5", "--mutation", "2"], "fraction of the children"),
    (["--n", "5", "--time-limit", "-1"], "positive number of seconds"),
    (["--n", "5", "--time-limit", "nan"], "positive number of seconds"),
    (["--n", "5", "--target", "inf"], "finite energy"),
    (["--n", "5", "--out", "pts.txt"], "use .csv or .npy"),
    (["--n", "50", "--strategy", "fast"], "--strategy 'fast'"),
    (["--n", "50", "--dim", "4", "--strategy", "portfolio"], "--dim 3"),
])
def test_bad_arguments_exit_2_with_one_line(args, message):
    res = runner.invoke(app, ["mhe-solve", *args])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_json_reports_group_defects_and_gap(tmp_path):
    out = tmp_path / "ico.npy"
    res = runner.invoke(app, ["mhe-solve", "--n", "12", "--restarts", "3", "--json",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["point_group"]["name"] == "Ih" and r["point_group"]["order"] == 120
    assert r["census"]["coordination"] == {"5": 12} and r["census"]["charge"] == 12
    assert r["published"] == 49.165253058 and abs(r["gap"]) < 1e-10
    assert r["strategy"] == "genetic" and r["minima"] >= 1
    import numpy as np

    pts = np.load(out, allow_pickle=False)
    assert pts.shape == (12, 3) and pts.dtype == np.float64
    energy = sum(1 / math.dist(a, b) for i, a in enumerate(pts.tolist())
                 for b in pts.tolist()[i + 1:])
    assert energy == pytest.approx(r["energy"], rel=1e-12)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_portfolio_table_with_target_and_plot(tmp_path):
    png = tmp_path / "n100.png"
    res = runner.invoke(app, ["mhe-solve", "--n", "100", "--target", "4448.350634331",
                              "--time-limit", "60", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    for text in ("4448.350634331", "(reached)", "portfolio; best from", "target reached",
                 "point group", "Voronoi neighbours", "distinct minima visited"):
        assert text in res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
