"""Which torchvision classifiers run on 28x28 one-channel images once on the hypersphere.

Builds each ``torchvision/<name>`` with every convolution a SphereConv and every linear
layer a SphereLinear (``hyper``'s model factory: classifier replaced by the head, stem given
one channel) and sends two random 28x28 images through it. A network that pools the image
away says so with the fix (``model.args.input_size``). Prints one markdown table.

    python scripts/torchvision_small_images.py                 # the README's list
    python scripts/torchvision_small_images.py --size 64 resnet18 vgg11
"""

from __future__ import annotations

import argparse

import torch

from hypercli.errors import HyperError
from hypercli.models import create_model
from hypercli.recipe import Recipe

DEFAULT = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2",
           "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_v2_s",
           "regnet_x_400mf", "regnet_y_400mf", "mnasnet0_5", "shufflenet_v2_x1_0",
           "squeezenet1_0", "googlenet", "swin_t", "densenet121", "inception_v3",
           "convnext_tiny", "maxvit_t", "vgg11_bn", "alexnet", "vit_b_16"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=DEFAULT)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", type=int, default=1)
    args = ap.parse_args()
    print(f"| torchvision/<name> | runs on {args.size} px | features |")
    print("|---|---|---:|")
    for name in args.names:
        recipe = Recipe.model_validate({"model": {"name": f"torchvision/{name}",
                                                  "conv": "sphere", "linear": "sphere"}})
        try:
            net = create_model(recipe, 10, args.channels, args.size).eval()
            with torch.no_grad():
                y = net(torch.rand(2, args.channels, args.size, args.size))
            assert y.shape == (2, 10)
            print(f"| {name} | yes | {net.feature_dim} |", flush=True)
        except HyperError as exc:
            reason = str(exc).split("(", 1)[1].split(")")[0] if "(" in str(exc) else str(exc)
            print(f"| {name} | no: needs model.args.input_size ({reason[:60]}) | |", flush=True)


if __name__ == "__main__":
    main()
