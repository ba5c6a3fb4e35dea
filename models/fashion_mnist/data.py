"""Fashion-MNIST from Debian's dataset-fashion-mnist package (IDX files, gzipped or not), read
with numpy; no downloads. Preprocessing shared by train.py and reference_logits.py."""

import gzip
import os

import numpy as np
import torch

DATA_DIR = "/usr/share/datasets/fashion-mnist"
# Fashion-MNIST training-set mean / std of pixel/255 (the usual published values).
MEAN = 0.2860
STD = 0.3530
PAD = 2          # 28x28 -> 32x32, 2 zero pixels on each side (zeros before normalisation)
SIZE = 32
CHANNELS = 3     # grey replicated to 3 channels

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _open(path):
    if os.path.exists(path):
        return open(path, "rb")
    if os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rb")
    raise FileNotFoundError(f"{path}[.gz] not found (install Debian's dataset-fashion-mnist)")


def read_idx(path):
    """An IDX file (http://yann.lecun.com/exdb/mnist/ format) as a numpy array."""
    with _open(path) as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = np.dtype(dtypes[raw[2]])
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    n = int(np.prod(dims))
    arr = np.frombuffer(raw, dtype=dtype, count=n, offset=off).reshape(dims)
    return arr


def load(split, data_dir=DATA_DIR):
    """(images uint8 [N,28,28], labels int64 [N]) for split 'train' or 'test'."""
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    assert x.shape[1:] == (28, 28) and len(x) == len(y)
    return x, y


def pad_u8(x):
    """uint8 [N,28,28] -> uint8 tensor [N,1,32,32] (zero padding)."""
    t = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)
    return torch.nn.functional.pad(t, (PAD, PAD, PAD, PAD))


def normalize(u8):
    """uint8 tensor [N,1,H,W] -> float32 [N,3,H,W]: (pixel/255 - MEAN)/STD, replicated."""
    x = (u8.float() / 255.0 - MEAN) / STD
    return x.expand(-1, CHANNELS, -1, -1).contiguous()


def augment(u8, gen=None):
    """Random crop 32x32 with zero padding 2, random horizontal flip; uint8 [N,1,32,32]."""
    n = u8.shape[0]
    p = torch.nn.functional.pad(u8, (2, 2, 2, 2))
    ox = torch.randint(0, 5, (n,), generator=gen)
    oy = torch.randint(0, 5, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(u8)
    for i in range(n):
        c = p[i, :, oy[i]:oy[i] + SIZE, ox[i]:ox[i] + SIZE]
        out[i] = c.flip(-1) if flip[i] else c
    return out


def input_json():
    return {"size": SIZE, "channels": CHANNELS, "mean": [MEAN] * CHANNELS, "std": [STD] * CHANNELS,
            "pad": PAD, "scale": "pixel/255", "layout": "NCHW",
            "formula": "(pixel/255 - mean)/std, 28x28 zero-padded to 32x32 before normalisation, grey replicated to 3 channels"}
