"""Per-frame warping-error report of one or more stylized folders against their source, with a plot."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..flow import DISFlow, FlowCache
from .frames import load_clip
from .warp_error import warping_error


def _entry(label: str, path: str, error: float, per_frame: List[float], source_error: Optional[float]) -> Dict:
    out = {"label": label, "path": path, "warp_error": error, "per_frame": per_frame}
    if source_error:
        out["ratio_to_source"] = error / source_error
    return out


def clip_report(dirs: Sequence[str], source: str, *, start: int = 0, count: Optional[int] = None) -> Dict:
    """Warping error (flow from ``source``) of each folder in ``dirs`` and of the source itself.

    Returns ``{"source": entry, "outputs": [entry, ...]}`` where an entry is ``{label, path,
    warp_error, per_frame, ratio_to_source?}``; ``per_frame[i]`` is err_t for frame t = i + 2.
    The source is read at the size of the first folder's frames; the flow is computed once.
    """
    if not dirs:
        raise ValueError("give at least one folder of stylized frames")
    outputs = [load_clip(d, start=start, count=count) for d in dirs]
    h, w = outputs[0][0].shape[:2]
    src = load_clip(source, start=start, count=count, size=(w, h))
    cache = FlowCache(DISFlow())
    src_err, src_pf = warping_error(src, flow_cache=cache)
    entries = []
    for d, frames in zip(dirs, outputs):
        if len(frames) != len(src):
            raise ValueError(f"{d} has {len(frames)} frames but the source has {len(src)}; select the same "
                             "frames (e.g. --frames START:END)")
        err, pf = warping_error(frames, src, flow_cache=cache)
        entries.append(_entry(_label(d), d, err, pf, src_err))
    return {"source": _entry("source", source, src_err, src_pf, None), "outputs": entries}


def _label(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) or path


def plot_report(report: Dict, out_png: str, *, title: str = "Warping error per frame (flow from the source)") -> str:
    """Draw the report's per-frame curves (lower is steadier) into ``out_png``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    try:
        src = report["source"]
        xs = np.arange(2, len(src["per_frame"]) + 2)
        ax.plot(xs, src["per_frame"], "k--", lw=1.4, label=f"source ({src['warp_error']:.5f})")
        for e in report["outputs"]:
            ax.plot(np.arange(2, len(e["per_frame"]) + 2), e["per_frame"], lw=1.6,
                    label=f"{e['label']} ({e['warp_error']:.5f}, {e.get('ratio_to_source', float('nan')):.2f}x source)")
        ax.set_xlabel("frame t (error between t-1 and t warped back)")
        ax.set_ylabel("warping error (mean squared, 0-1 colours)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        fig.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
        fig.savefig(out_png)
    finally:
        plt.close(fig)
    return out_png
