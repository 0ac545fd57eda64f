"""``make_face_pack(dir)``: a tiny insightface-compatible face pack for tests, built offline.

Two ONNX graphs in insightface's model-pack layout, which ``insightface.app.FaceAnalysis(name=dir)``
routes by graph shape like a real pack (``buffalo_l``):

* ``det_tiny.onnx`` - SCRFD layout (9 outputs: score / bbox / kps for strides 8, 16, 32, two anchors
  per location). A functional toy: a "face" is a bright (near-white) axis-aligned square on a darker
  background. The score of an anchor is how bright its pixel is; the box distances come from running
  sums of the bright mask along the anchor's row and column (so one square gives its exact box); the
  five keypoints sit at fixed fractions of that box (eyes, nose, mouth corners).
* ``w600k_tiny.onnx`` - ArcFace layout (112 x 112 RGB -> 512-d). Average pools the aligned crop to
  8 x 8 and projects it with a fixed seeded random matrix: similar crops give similar embeddings,
  identical crops identical ones.

These are test models: they exercise insightface's and onnxruntime's real code paths, not real
face recognition. Deterministic: the same files (bit for bit) on every run.
"""
from __future__ import annotations

import os

DETECTOR_FILE = "det_tiny.onnx"
RECOGNIZER_FILE = "w600k_tiny.onnx"
STRIDES = (8, 16, 32)
# keypoints as fractions of the box (x, y): left eye, right eye, nose, left mouth, right mouth
KPS_FRACTIONS = ((0.34, 0.40), (0.66, 0.40), (0.50, 0.58), (0.37, 0.76), (0.63, 0.76))
BRIGHT_LEVEL = 0.3  # normalised brightness ((v - 127.5) / 128) above which a pixel counts as face (v > ~166)
EMBED_DIM = 512


def _detector_module():
    import torch

    class TinyScrfd(torch.nn.Module):
        """A tiny stand-in face detector in SCRFD's ONNX interface: finds the bright square of test images (a test model)."""

        def forward(self, x):  # x: [1, 3, H, W], (bgr->rgb - 127.5) / 128
            bright = torch.sigmoid((x.mean(dim=1, keepdim=True) - BRIGHT_LEVEL) * 60.0)[0, 0]  # [H, W]
            left = torch.cumsum(bright, dim=1) - bright
            right = bright.sum(dim=1, keepdim=True) - left
            top = torch.cumsum(bright, dim=0) - bright
            bottom = bright.sum(dim=0, keepdim=True) - top
            scores, boxes, kpss = [], [], []
            for s in STRIDES:
                def pick(t):
                    return t[::s, ::s].reshape(-1, 1)
                sc, l, t, r, b = (pick(v) for v in (bright, left, top, right, bottom))
                w, h = l + r, t + b
                kps = []
                for fx, fy in KPS_FRACTIONS:
                    kps += [fx * w - l, fy * h - t]
                box = torch.cat([l, t, r, b], dim=1) / s
                kp = torch.cat(kps, dim=1) / s
                scores.append(sc.repeat_interleave(2, dim=0))
                boxes.append(box.repeat_interleave(2, dim=0))
                kpss.append(kp.repeat_interleave(2, dim=0))
            return (*scores, *boxes, *kpss)

    return TinyScrfd()


def _recognizer_module():
    import torch

    gen = torch.Generator().manual_seed(7)
    proj = torch.randn(3 * 8 * 8, EMBED_DIM, generator=gen) / 8.0

    class TinyArcFace(torch.nn.Module):
        """A tiny stand-in face recogniser in ArcFace's ONNX interface: a fixed random projection (a test model)."""

        def __init__(self):
            super().__init__()
            self.register_buffer("proj", proj)

        def forward(self, x):  # x: [N, 3, 112, 112]
            pooled = torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)
            pooled = pooled - pooled.mean(dim=1, keepdim=True)
            return pooled @ self.proj

    return TinyArcFace()


def _export(module, example, path: str, input_dims: dict, output_names: list) -> None:
    import torch
    dynamic = {"input.1": input_dims}
    dynamic.update({name: {0: f"n_{name}"} for name in output_names})  # one dim name per output
    with torch.no_grad():
        torch.onnx.export(module, (example,), path, dynamo=False, opset_version=17,
                          input_names=["input.1"], output_names=output_names, dynamic_axes=dynamic)


def make_face_pack(out_dir: str) -> str:
    """Write the tiny detector and recognizer into ``out_dir``; return ``out_dir``."""
    import torch
    os.makedirs(out_dir, exist_ok=True)
    names = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in STRIDES]
    _export(_detector_module(), torch.zeros(1, 3, 128, 128), os.path.join(out_dir, DETECTOR_FILE),
            {2: "height", 3: "width"}, names)
    _export(_recognizer_module(), torch.zeros(1, 3, 112, 112), os.path.join(out_dir, RECOGNIZER_FILE),
            {0: "batch"}, ["embedding"])
    return out_dir
