"""Progress without a terminal: whole lines, one per epoch, nothing cut to 80 columns."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

from rich.console import Console
from rich.progress import Progress

from hypercli.engine.progress import LineProgress, training_progress
from tests.conftest import tiny_tree

LINE = re.compile(r"^epoch (\d)/2 test \d+\.\d\d%  8/8  loss \d+\.\d{4}  acc \d+\.\d\d%  "
                  r"\d+ img/s  data \d+%  \d:\d\d:\d\d$")


def test_a_terminal_gets_the_live_bar_a_file_gets_lines():
    tty = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(training_progress(tty), Progress)
    assert isinstance(training_progress(Console(file=io.StringIO())), LineProgress)


def test_line_progress_prints_whole_lines_on_description_and_interval():
    buf = io.StringIO()
    bar = LineProgress(Console(file=buf, width=40), interval=3600.0)
    task = bar.add_task("epoch 1/3", total=500, loss=0.0, acc=0.0, ips=0.0, wait=0.0)
    bar.update(task, completed=250, loss=1.23456, acc=0.5, ips=1234.4)  # within the interval
    assert buf.getvalue() == ""
    bar.update(task, completed=500, loss=0.5, acc=0.875, ips=2000.0, wait=0.125)
    bar.update(task, description="epoch 1/3 test 91.23%")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1  # one whole line although the console is 40 columns wide
    assert lines[0].startswith("epoch 1/3 test 91.23%  500/500  loss 0.5000  acc 87.50%  "
                               "2000 img/s  data 12%  0:00:0")
    bar.interval = 0.0
    bar.update(task, completed=500)
    assert len(buf.getvalue().splitlines()) == 2


def test_a_redirected_training_log_shows_every_epoch_whole(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(tiny_tree()))  # JSON is YAML
    log = tmp_path / "train.log"
    with log.open("w") as f:
        subprocess.run([sys.executable, "-m", "hypercli", "train", "--recipe", str(recipe),
                        "--out", str(tmp_path / "run")], stdout=f, stderr=f, check=True,
                       timeout=300, env={**os.environ, "HYPER_RUNS": str(tmp_path / "runs"),
                                         "OMP_NUM_THREADS": "1"})
    text = log.read_text()
    epochs = [m.group(1) for m in map(LINE.match, text.splitlines()) if m]
    assert epochs == ["1", "2"], text
    assert "…" not in text
