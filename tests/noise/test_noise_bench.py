"""``bench noise``'s split of motion_ratio by how far the direct flow over the gap and the chained
consecutive flows disagree: on a known motion, the parts land in the right bins and add up."""
import numpy as np

from kino_backend.benchmarks.noise import _motion, by_flow_agreement

H, W, K, GAP = 12, 24, 8, 8  # latent 12 x 24, flows at 8x that


class Known:
    """Frames are their indices. Everything moves one latent pixel (8 px) right a frame; the direct flow
    over more than one frame is off by ``extra`` latent pixels (along the motion) in the bottom half."""

    def __init__(self, extra: float):
        self.extra = extra

    def flow(self, a, b):
        f = np.zeros((H * K, W * K, 2), np.float32)
        f[..., 0] = K * (b - a)
        if abs(b - a) > 1:
            f[H * K // 2:, :, 0] += np.sign(b - a) * K * self.extra
        return f

    def pair(self, a, b):
        return self.flow(a, b), self.flow(b, a)


def _noise(frames):
    rng = np.random.default_rng(0)
    fixed = rng.standard_normal((4, H, W)).astype(np.float32)
    wide = rng.standard_normal((4, H, W + len(frames))).astype(np.float32)
    moved = [wide[:, :, len(frames) - t: len(frames) - t + W] for t in frames]  # one latent pixel right a frame
    return {"fixed": [fixed] * len(frames), "warped": moved}


def test_the_split_by_flow_agreement_adds_up_and_finds_where_the_flows_disagree():
    frames = list(range(12))
    seqs = _noise(frames)
    agree = by_flow_agreement(frames, seqs, Known(0.0), GAP)
    assert agree[0]["share"] == 1.0 and agree[0]["motion_ratio"] < 1e-6  # exact motion: the noise matches
    flows = Known(1.5)
    split = by_flow_agreement(frames, seqs, flows, GAP)
    shares = {b["disagreement_latent_px"][0]: b["share"] for b in split}
    assert shares[0.0] > 0.2 and shares[1.0] > 0.2 and shares[0.25] == shares[0.5] == shares[2.0] == 0.0
    assert abs(sum(shares.values()) - 1.0) < 1e-3
    by_bin = {b["disagreement_latent_px"][0]: b for b in split}
    assert by_bin[0.0]["motion_ratio"] < 1e-6 and by_bin[1.0]["motion_ratio"] > 0.5
    whole = _motion(frames, seqs, flows, GAP, 1.0)
    assert abs(sum(b["part_of_ratio"] or 0.0 for b in split) - whole["warped"] / whole["fixed"]) < 1e-3
