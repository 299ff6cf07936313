"""verify(): embeddings of image and mirror, combined per protocol, fed to the protocol."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypercli.errors import HyperError
from hypercli.verification import insightface, read_bin, read_pairs_txt, sphereface
from hypercli.verification.verify import verify
from tests.verification.sets import encode, face, write_lfw


class PoolNet(nn.Module):
    """features(x) = 4x4 average pooling, flattened, then a fixed linear map and a bias: the
    mirror gives another embedding, and nothing is learned."""

    def __init__(self, input_shape=None):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(12, 5, generator=g))
        if input_shape is not None:
            self.input_shape = input_shape

    def features(self, x):
        return F.avg_pool2d(x, 4).flatten(1) @ self.w + 0.1


def by_hand(model, images):
    """f(x) and f(mirror x) of uint8 images, one image at a time (no embed, no batches)."""
    with torch.no_grad():
        one = [model.features(x[None].float() / 255) for x in images]
        mirror = [model.features(x[None].float().flip(3) / 255) for x in images]
    return torch.cat(one), torch.cat(mirror)


@pytest.fixture
def lfw(tmp_path):
    return read_pairs_txt(write_lfw(tmp_path, "png"), tmp_path / "images", ext="png")


def test_verify_feeds_each_protocol_its_embeddings(lfw):
    model = PoolNet()
    vset = lfw.decode(workers=0)
    f, m = by_hand(model, vset.images)
    a, b = vset.pairs[:, 0], vset.pairs[:, 1]
    occurrences = np.concatenate([a, b])
    xnorm = float(np.mean(np.concatenate([f.double().norm(dim=1).numpy()[occurrences],
                                          m.double().norm(dim=1).numpy()[occurrences]])))
    summed = (f + m).double().numpy()
    concat = torch.cat([f, m], 1).double().numpy()
    cases = [("insightface", insightface(summed[a], summed[b], vset.issame, 2, xnorm)),
             ("sphereface", sphereface(concat[a], concat[b], vset.issame, 2, xnorm))]
    for name, want in cases:
        got = verify(model, vset, name, batch_size=3)
        assert got.pop("set") == "lfw" and got.pop("images") == 8
        assert got.pop("source").endswith("pairs.txt")
        assert got.keys() == want.keys()
        for k, v in want.items():
            same = got[k] == v if isinstance(v, str) else got[k] == pytest.approx(v, rel=1e-6,
                                                                                   abs=1e-9)
            assert same, (name, k, got[k], v)
        assert got["protocol"] == name and got["folds"] == 2 and got["pairs"] == 8
    # a set of files (not decoded) is decoded on the way and gives the same numbers; a
    # pairs.txt is scored by SphereFace's protocol unless another is asked for
    assert verify(model, lfw, workers=0) == verify(model, vset, "sphereface")


def test_images_must_fit_the_model(tmp_path, lfw):
    vset = lfw.decode(workers=0)
    with pytest.raises(HyperError, match=r"lfw: its images are 8x8, the model takes 8x6; "
                       "evaluate the model on crops"):
        verify(PoolNet(), vset, input_shape=(3, 8, 6))
    with pytest.raises(HyperError, match="3 channels, the model takes 1; load the set with "
                       "channels=1"):
        verify(PoolNet(), vset, input_shape=(1, 8, 8))
    with pytest.raises(HyperError, match="its images are 8x8, the model takes 8x6"):
        verify(PoolNet(), lfw, input_shape=(3, 8, 6), workers=0)  # files: the first batch
    big = [encode(face(i, (112, 112))) for i in range(4)]
    (tmp_path / "lfw.bin").write_bytes(pickle.dumps((big * 5, [True, False] * 5), protocol=4))
    with pytest.raises(HyperError, match=r"lfw: its images are 112x112, the model takes "
                       r"112x96; a SphereFace network .* model.args.crop=insightface") as err:
        verify(PoolNet(input_shape=(3, 112, 96)), read_bin(tmp_path / "lfw.bin"))
    assert "\n" not in str(err.value)
    small = [encode(face(i)) for i in range(4)]
    (tmp_path / "cfp.bin").write_bytes(pickle.dumps((small, [True, False]), protocol=4))
    with pytest.raises(HyperError, match="cfp: 2 pairs cannot fill 10 folds"):
        verify(PoolNet(), read_bin(tmp_path / "cfp.bin"))
    (tmp_path / "cfp.bin").write_bytes(pickle.dumps((small * 5, [True, False] * 5), protocol=4))
    assert verify(PoolNet(), read_bin(tmp_path / "cfp.bin"))["protocol"] == "insightface"
    with pytest.raises(HyperError, match="unknown verification protocol 'lfw'"):
        verify(PoolNet(), vset, "lfw")
