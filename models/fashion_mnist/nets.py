"""The six qint8 topologies at reduced width for 32x32x3 Fashion-MNIST input, 10 classes.

Layer order and module names follow torchvision where torchvision has the model (so that qint8's
C++ templates, which use torchvision's names, match):

  resnet50 / resnet101  torchvision v1.5 bottleneck ResNet (torchvision's own Bottleneck class),
                        every channel width multiplied by `width`: stem conv1 7x7/2 (64w) bn1 relu
                        maxpool 3x3/2 p1; layer1..layer4 inner widths 64w,128w,256w,512w,
                        expansion 4, stride in conv2 (3x3), downsample = 1x1 conv/s + BN;
                        avgpool (adaptive 1x1); fc.
  vgg16 / vgg19         torchvision vgg16_bn / vgg19_bn layout (features.{i}: conv, bn, relu per
                        conv, 5 max pools 2x2/2), conv widths multiplied by `width`. At 32x32 the
                        last map is 1x1, so there is NO avgpool (torchvision's
                        AdaptiveAvgPool2d((7,7)) would replicate the pixel 49 times): flatten,
                        then classifier.0 Linear(512w, h), .1 ReLU, .2 Dropout, .3 Linear(h, h),
                        .4 ReLU, .5 Dropout, .6 Linear(h, 10).
  mobilenet_v2          torchvision.models.MobileNetV2(width_mult=w, num_classes=10) as is
                        (ReLU6; classifier.0 Dropout(0.2), classifier.1 Linear).
  mobilenet_v1          torchvision has none: names follow TF-slim (as qint8's template):
                        Conv2d_0 (3x3/2, max(int(32w),8)), Conv2d_{1..13}_depthwise (3x3, groups=C),
                        Conv2d_{1..13}_pointwise (1x1), each a Sequential(0 conv, 1 BN, 2 ReLU6),
                        symmetric padding 1 on the 3x3 convs; AvgPool_1a (global average);
                        Logits = Linear(max(int(1024w),8), 10) (a Linear, not TF-slim's 1x1 conv).

All convs have bias=False and a BatchNorm2d after them, as in the originals.
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck

NUM_CLASSES = 10

# name -> (constructor keyword arguments); widths chosen so each FP32 ONNX is at most ~4 MB.
CONFIGS = {
    "mobilenet_v1": {"width": 0.5},
    "mobilenet_v2": {"width": 0.5},
    "resnet50": {"width": 0.1875},
    "resnet101": {"width": 0.125},
    "vgg16": {"width": 0.25, "hidden": 256},
    "vgg19": {"width": 0.1875, "hidden": 256},
}
NAMES = list(CONFIGS)


def _init(model, zero_init_residual=False):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)


# --------------------------------------------------------------------------------------------
# ResNet (torchvision v1.5 with a width multiplier)

class ResNet(nn.Module):
    def __init__(self, layers, width=1.0, num_classes=NUM_CLASSES, in_channels=3, zero_init_residual=True):
        super().__init__()
        c = lambda n: max(int(n * width), 1)
        self.width = width
        self.inplanes = c(64)
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(c(64), layers[0], 1)
        self.layer2 = self._make_layer(c(128), layers[1], 2)
        self.layer3 = self._make_layer(c(256), layers[2], 2)
        self.layer4 = self._make_layer(c(512), layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c(512) * Bottleneck.expansion, num_classes)
        _init(self, zero_init_residual)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# --------------------------------------------------------------------------------------------
# VGG (vgg16_bn / vgg19_bn layout, width multiplier, 32x32 input -> 1x1 map, no avgpool)

VGG_CFG = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, depth, width=1.0, hidden=4096, num_classes=NUM_CLASSES, in_channels=3, dropout=0.5):
        super().__init__()
        layers, c_in = [], in_channels
        for v in VGG_CFG[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                c = max(int(v * width), 1)
                layers += [nn.Conv2d(c_in, c, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(c_in, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes))
        _init(self)

    def forward(self, x):
        x = self.features(x)          # [N, 512w, 1, 1] at 32x32
        x = torch.flatten(x, 1)
        return self.classifier(x)


# --------------------------------------------------------------------------------------------
# MobileNetV1 (TF-slim names)

MBV1_SPEC = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
             (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


def _cbr6(c_in, c_out, k, stride, groups=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class MobileNetV1(nn.Module):
    def __init__(self, width=1.0, num_classes=NUM_CLASSES, in_channels=3):
        super().__init__()
        depth = lambda c: max(int(c * width), 8)
        self.width = width
        c = depth(32)
        self.Conv2d_0 = _cbr6(in_channels, c, 3, 2)
        for i, (s, co) in enumerate(MBV1_SPEC, 1):
            co = depth(co)
            setattr(self, f"Conv2d_{i}_depthwise", _cbr6(c, c, 3, s, groups=c))
            setattr(self, f"Conv2d_{i}_pointwise", _cbr6(c, co, 1, 1))
            c = co
        self.AvgPool_1a = nn.AdaptiveAvgPool2d((1, 1))
        self.Logits = nn.Linear(c, num_classes)
        _init(self)

    def forward(self, x):
        x = self.Conv2d_0(x)
        for i in range(1, len(MBV1_SPEC) + 1):
            x = getattr(self, f"Conv2d_{i}_depthwise")(x)
            x = getattr(self, f"Conv2d_{i}_pointwise")(x)
        x = torch.flatten(self.AvgPool_1a(x), 1)
        return self.Logits(x)


# --------------------------------------------------------------------------------------------

def build(name, **override):
    """The float model `name` with its CONFIGS width (or `override`)."""
    cfg = dict(CONFIGS[name], **override)
    if name == "mobilenet_v1":
        return MobileNetV1(width=cfg["width"])
    if name == "mobilenet_v2":
        return torchvision.models.MobileNetV2(num_classes=NUM_CLASSES, width_mult=cfg["width"])
    if name == "resnet50":
        return ResNet([3, 4, 6, 3], width=cfg["width"])
    if name == "resnet101":
        return ResNet([3, 4, 23, 3], width=cfg["width"])
    if name == "vgg16":
        return VGG(16, width=cfg["width"], hidden=cfg["hidden"])
    if name == "vgg19":
        return VGG(19, width=cfg["width"], hidden=cfg["hidden"])
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(NAMES)}")


def num_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    for n in NAMES:
        m = build(n).eval()
        y = m(torch.zeros(2, 3, 32, 32))
        bn = sum(b.numel() for k, b in m.named_buffers() if "running" in k)
        print(f"{n:13s} {CONFIGS[n]} params {num_params(m):9d}  ~{(num_params(m) + bn) * 4 / 1e6:.2f} MB fp32  out {tuple(y.shape)}")
