"""The host side of a conv net, in fixed point: im2col patches, pooling, flattening.

Defined once, used by the golden model (`eie.convnet`) and the host driver
(`host.convnet`), so the patches the golden model computes with are the ones the driver
sends, and both pool the array's outputs the same way (docs/format.md, "Conv nets"):

* `im2col`: the patch of output position ``(oy, ox)`` holds input ``(c, oy*sh + i - pt,
  ox*sw + j - pl)`` at index ``c*kh*kw + i*kw + j`` (the order of a weight ``(out, C, kh, kw)``
  reshaped row-major), 0 where the window is off the image (zero padding);
* `col2im`: the array's outputs per patch back to ``(out_channels, OH, OW)``;
* `pool`: max, or average rounded half up (``floor((2*sum + n) / (2*n))``, exact in
  integers; ``n`` the window size, or its real elements without ``count_include_pad``).
  Padding never wins a max: every window holds a real element (`eie.network.Pool`).

All arrays are int64 fixed-point activations with a leading batch axis.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .network import Conv, Pool

__all__ = ["im2col", "col2im", "pool", "flatten"]

_NEG = np.iinfo(np.int64).min


def _pad(x: np.ndarray, pads, value: int) -> np.ndarray:
    pt, pl, pb, pr = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """(B, C, OH, OW, kh, kw) view of the windows of a padded (B, C, H, W) array."""
    (kh, kw), (sh, sw) = kernel, stride
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def im2col(x: np.ndarray, conv: Conv) -> np.ndarray:
    """(B, C, H, W) -> (B, OH * OW, C * kh * kw): one patch per output position, row-major."""
    x = np.asarray(x, np.int64)
    w = _windows(_pad(x, conv.pads, 0), conv.kernel, conv.stride)
    b, c, oh, ow, kh, kw = w.shape
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1, 4, 5)).reshape(b, oh * ow, c * kh * kw)


def col2im(y: np.ndarray, out_hw) -> np.ndarray:
    """(B, OH * OW, out_channels) -> (B, out_channels, OH, OW)."""
    y = np.asarray(y, np.int64)
    oh, ow = out_hw
    return np.ascontiguousarray(y.reshape(y.shape[0], oh, ow, y.shape[2]).transpose(0, 3, 1, 2))


def pool(x: np.ndarray, p: Pool) -> np.ndarray:
    """Max or average pooling of (B, C, H, W) in fixed point (module docstring)."""
    x = np.asarray(x, np.int64)
    if p.kind == "max":
        return _windows(_pad(x, p.pads, _NEG), p.kernel, p.stride).max(axis=(4, 5))
    total = _windows(_pad(x, p.pads, 0), p.kernel, p.stride).sum(axis=(4, 5))
    if p.count_include_pad or not any(p.pads):
        n = np.int64(p.kernel[0] * p.kernel[1])
    else:
        ones = np.ones((1, 1) + x.shape[2:], np.int64)
        n = _windows(_pad(ones, p.pads, 0), p.kernel, p.stride).sum(axis=(4, 5))
    return (2 * total + n) // (2 * n)


def flatten(x: np.ndarray) -> np.ndarray:
    """(B, ...) -> (B, values), C-major (``torch.flatten(x, 1)``)."""
    x = np.asarray(x, np.int64)
    return x.reshape(x.shape[0], -1)
