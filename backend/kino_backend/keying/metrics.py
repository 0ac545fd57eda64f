"""Scores for a key against a known answer (used by the tests and the keying benchmark)."""
from __future__ import annotations

import numpy as np

from .synthetic import SyntheticKeyCase


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def green_excess(image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    return f[..., 1] - np.maximum(f[..., 0], f[..., 2])


def score(case: SyntheticKeyCase, matte: np.ndarray, composite: np.ndarray) -> dict:
    """matte MAE (whole frame and edge band), composite PSNR, and the green fringe in the edge band:
    mean G - max(R, B) of the composite minus that of the true composite (0 = no fringe), and the share
    of edge-band pixels that are visibly greener than the truth (by more than 8 levels)."""
    band = case.edge_band()
    err = np.abs(matte.astype(np.float32) - case.alpha)
    excess = green_excess(composite)[band] - green_excess(case.truth)[band]
    fringe = excess.mean()
    return {
        "matte_mae": round(float(err.mean()), 5),
        "matte_mae_edge": round(float(err[band].mean()), 5),
        "psnr_db": round(psnr(composite, case.truth), 3),
        "psnr_edge_db": round(psnr(composite[band], case.truth[band]), 3),
        "fringe_green_excess": round(float(fringe), 3),
        "fringe_pixels_pct": round(100.0 * float((excess > 8.0).mean()), 2),  # visibly greener than truth
    }
