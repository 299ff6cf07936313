"""Non-square images through the streamed data layer: data.image_size as S or [H, W],
stored sizes kept, resize-to-cover and center crop for training and evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from hypercli.data import build_data
from hypercli.data.transforms import _Fit, cover, eval_transform, train_transform
from hypercli.errors import HyperError
from hypercli.recipe import DataConfig, load_recipe


def write_rgb(root, n: int, hw: tuple[int, int], classes: int = 2) -> dict[str, np.ndarray]:
    """``n`` random RGB PNGs of ``hw`` (H, W) under ``root/c<k>/``; {file name: array}."""
    rng = np.random.default_rng(n * 7 + hw[1])
    out = {}
    for i in range(n):
        a = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
        d = root / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a, "RGB").save(d / f"{i:03d}.png")
        out[f"{i:03d}.png"] = a
    return out


def cfg(root, **kw) -> DataConfig:
    return DataConfig(name="folder", root=str(root), workers=0, batch_size=4, **kw)


def test_recipe_takes_an_int_or_h_w():
    assert load_recipe(None, ["data.image_size=[112, 96]"]).data.image_size == (112, 96)
    r = load_recipe(None, ["data.image_size=112"])
    assert r.data.image_size == 112 and r.to_dict()["data"]["image_size"] == 112
    assert load_recipe(None, ["data.image_size=[112, 96]"]).to_dict()["data"]["image_size"] \
        == [112, 96]
    for bad in ("[112]", "[112, 0]", "[1, 2, 3]", "0", "true", "[112, 96.5]"):
        with pytest.raises(HyperError, match=r"data.image_size: .*S \(S x S\) or \[H, W\]"):
            load_recipe(None, [f"data.image_size={bad}"])


def test_a_stored_112x96_folder_keeps_its_size_and_pixels(tmp_path):
    arrays = write_rgb(tmp_path / "train", 6, (112, 96))
    write_rgb(tmp_path / "val", 2, (112, 96))
    data = build_data(cfg(tmp_path))
    assert data.image_size == (112, 96) and data.in_channels == 3
    x, _ = next(data.train.batches(6))
    assert x.shape == (6, 3, 112, 96)
    # folder order: class by class, files sorted: c0 holds 000, 002, 004
    assert torch.equal(x[0], torch.from_numpy(arrays["000.png"]).permute(2, 0, 1))
    assert torch.equal(x[3], torch.from_numpy(arrays["001.png"]).permute(2, 0, 1))
    xb, _ = next(iter(data.train_loader(cfg(tmp_path), 0, "cpu").batches()))
    assert xb.shape == (4, 3, 112, 96)


def test_image_size_h_w_resizes_train_and_eval(tmp_path):
    arrays = write_rgb(tmp_path / "train", 4, (112, 96))
    write_rgb(tmp_path / "val", 2, (112, 96))
    data = build_data(cfg(tmp_path, image_size=[56, 48], crop_pct=1.0))
    assert data.image_size == (56, 48)
    # same aspect ratio: a plain antialiased bilinear resize, no crop (PIL as the reference)
    ref = np.asarray(Image.fromarray(arrays["000.png"]).resize((48, 56), Image.BILINEAR))
    for split in (data.train, data.test):
        x, _ = next(split.batches(4))
        assert x.shape[1:] == (3, 56, 48)
    x, _ = next(data.train.batches(4))
    assert torch.equal(x[0], torch.from_numpy(ref.copy()).permute(2, 0, 1))
    square = build_data(cfg(tmp_path, image_size=64))
    assert square.image_size == 64
    assert next(square.test.batches(2))[0].shape[1:] == (3, 64, 64)


def test_cover_closed_forms():
    assert cover((112, 96), (56, 48)) == (56, 48)
    assert cover((100, 200), (50, 50)) == (50, 100)  # the short side to 50
    assert cover((200, 100), (50, 50)) == (100, 50)
    assert cover((112, 112), (112, 96)) == (112, 112)  # height binds, width covers
    assert cover((100, 50), (112, 96)) == (192, 96)  # width binds: scale 96 / 50
    assert cover((64, 54), (128, 109)) == (129, 109)  # width binds: 109 / 54 > 128 / 64


def test_fit_h_w_equals_resize_then_center_crop_by_hand():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (120, 130, 3), dtype=np.uint8), "RGB")
    out = _Fit((112, 96), crop_pct=0.875)(img)  # cover (128, 109) of a 120x130 image
    th, tw = math.floor(112 / 0.875), math.floor(96 / 0.875)
    assert (th, tw) == (128, 109)
    nh, nw = 128, int(128 * 130 / 120)  # the height binds: 128 / 120 > 109 / 130
    big = img.resize((nw, nh), Image.BILINEAR)
    top, left = round((nh - 112) / 2), round((nw - 96) / 2)
    ref = big.crop((left, top, left + 96, top + 112))
    assert out.size == (96, 112) and np.array_equal(np.asarray(out), np.asarray(ref))


@pytest.mark.parametrize("hw", [(30, 41), (41, 30), (17, 17), (24, 24)])
def test_square_sizes_resize_as_before(hw):
    """A square target gives what v2.Resize(S) + v2.CenterCrop(S) gave (the earlier code)."""
    rng = np.random.default_rng(hw[0])
    img = Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8), "RGB")
    c = DataConfig(name="folder", image_size=24, crop_pct=0.875)
    old_eval = v2.Compose([v2.Resize(math.floor(24 / 0.875), antialias=True), v2.CenterCrop(24)])
    assert np.array_equal(np.asarray(eval_transform(c)(img)), np.asarray(old_eval(img)))
    old_fit = v2.Compose([v2.Resize(24, antialias=True), v2.CenterCrop(24)])
    expected = img if hw == (24, 24) else old_fit(img)
    assert np.array_equal(np.asarray(train_transform(c)(img)), np.asarray(expected))


def test_random_resized_crop_and_pad_crop_to_h_w():
    img = Image.fromarray(np.zeros((120, 100, 3), dtype=np.uint8), "RGB")
    torch.manual_seed(0)
    for augment in (["random-resized-crop", "flip"], ["crop", "flip"]):
        t = train_transform(DataConfig(name="folder", image_size=[112, 96], augment=augment))
        assert t(img).size == (96, 112)


def test_square_only_models_refuse_non_square_data(tmp_path):
    from hypercli.models import create_model
    from hypercli.recipe import Recipe

    write_rgb(tmp_path / "train", 2, (40, 32))
    write_rgb(tmp_path / "val", 2, (40, 32))
    data = build_data(cfg(tmp_path))
    with pytest.raises(HyperError, match=r"takes square images; the data gives 40x32 .*"
                                         r"set data.image_size to one size \(e.g. 32\)"):
        create_model(Recipe(), data.num_classes, data.in_channels, data.image_size)
