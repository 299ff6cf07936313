"""Learning-rate schedules against their closed forms; decay groups."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hypercli.engine.optim import build_optimizer, lr_factor
from hypercli.recipe import OptimizerConfig, ScheduleConfig


def test_multistep_in_epochs():
    cfg = ScheduleConfig(name="multistep", milestones=[2, 3.5], gamma=0.1)
    f = [lr_factor(s, cfg, 10, 50) for s in (0, 19, 20, 34, 35, 49)]
    assert f == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_and_warmup():
    cfg = ScheduleConfig(name="cosine")
    for s in (0, 25, 50, 99):
        assert lr_factor(s, cfg, 10, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi * s / 100)))
    warm = ScheduleConfig(name="constant", warmup_epochs=1)
    assert [lr_factor(s, warm, 4, 40) for s in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1, 1])


def test_onecycle_matches_torch():
    cfg = ScheduleConfig(name="onecycle", pct_start=0.25)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=200, pct_start=0.25,
                                              cycle_momentum=False)
    theirs = []
    for _ in range(200):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        if len(theirs) < 200:
            ref.step()
    ours = [lr_factor(s, cfg, 10, 200) for s in range(200)]
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_no_decay_groups():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 2))
    opt = build_optimizer(model, OptimizerConfig(weight_decay=0.1, no_decay=["0."]))
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(model[0].weight)] == 0.0 and decays[id(model[1].weight)] == 0.1


def test_no_decay_by_module_class():
    from hypercli.nn import SphereConv2d

    model = nn.Sequential(SphereConv2d(1, 2, 3), nn.Conv2d(2, 2, 3))
    opt = build_optimizer(model, OptimizerConfig(weight_decay=0.1, no_decay=["SphereConv2d"]))
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(model[0].weight)] == 0.0 and decays[id(model[1].weight)] == 0.1
    assert len(decays) == len(list(model.parameters()))


def test_poly_matches_torch_polynomial_lr():
    # insightface's PolyScheduler without warm-up is torch's PolynomialLR(power=2)
    cfg = ScheduleConfig(name="poly", power=2.0)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=40, power=2.0)
    theirs = []
    for _ in range(40):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert [lr_factor(s, cfg, 10, 40) for s in range(40)] == pytest.approx(theirs, rel=1e-9)


def test_poly_after_warmup():
    cfg = ScheduleConfig(name="poly", power=2.0, warmup_epochs=1)  # 10 warm-up steps of 50
    assert lr_factor(4, cfg, 10, 50) == pytest.approx(0.5)
    for s in (10, 20, 49):
        assert lr_factor(s, cfg, 10, 50) == pytest.approx((1 - (s - 10) / 40) ** 2)


def test_multistep_in_steps_matches_torch():
    cfg = ScheduleConfig(name="multistep", milestone_steps=[16, 24], gamma=0.1)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[16, 24], gamma=0.1)
    theirs = []
    for _ in range(28):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert [lr_factor(s, cfg, 7, 28) for s in range(28)] == pytest.approx(theirs)


def test_milestones_in_two_units_is_an_error():
    from hypercli.errors import HyperError
    from hypercli.recipe import build_recipe

    with pytest.raises(HyperError, match="not both"):
        build_recipe({"schedule": {"milestones": [1], "milestone_steps": [10]}})
