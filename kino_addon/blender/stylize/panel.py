"""The stylize part of the Kino tab: look, stage switches and parameters, the Face Similarity
switch, the Stylize / Cancel button with progress (and, on a cluster, its worker count and frames/s),
the last error and the last job's figures.
``draw_*`` only read state."""
from __future__ import annotations

from ..model_picker import draw_param
from .strip_job import QUEUE


def wrap(layout, text: str, icon: str = 'NONE', width: int = 48) -> None:
    """A long message as several labels."""
    words, line, first = text.split(), "", True
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            layout.label(text=line, icon=icon if first else 'BLANK1')
            line, first = word, False
        else:
            line = f"{line} {word}".strip()
    if line:
        layout.label(text=line, icon=icon if first else 'BLANK1')


def draw_look(layout, kino) -> None:
    layout.prop(kino, "look")
    if kino.synced_look == kino.look_name:
        draw_stages(layout, kino)


def draw_stages(layout, kino) -> None:
    by_stage: dict = {}
    for item in kino.params:
        by_stage.setdefault(item.stage, []).append(item)
    toggles = {t.name: t for t in kino.stages}
    order = [kino.look_name] + [t.name for t in kino.stages]
    order += [s for s in by_stage if s not in order]
    for stage in order:
        items = by_stage.get(stage, [])
        if stage not in toggles and not items:
            continue
        box = layout.box()
        head = box.row()
        if stage in toggles:
            head.prop(toggles[stage], "enabled", text=stage.title())
        else:
            head.label(text=stage.title())
        body = box.column()
        body.enabled = stage not in toggles or toggles[stage].enabled
        for item in items:
            draw_param(body, item, item.name.replace("_", " ").title())


def draw_face_switch(layout, kino) -> None:
    face = layout.box()
    face.prop(kino, "face_score")
    if kino.face_score:
        face.prop(kino, "face_pack")


def draw_run(layout) -> None:
    """Stylize or Cancel with progress; then the last error, or the last job and its figures."""
    row = layout.row(align=True)
    row.scale_y = 1.4
    if QUEUE.active:
        row.operator("kino.cancel", icon='CANCEL')
        layout.progress(factor=QUEUE.fraction(), text=QUEUE.progress_text().removeprefix("Kino: "))
        session = getattr(QUEUE.jobs[0], "session", None)
        if session is not None and session.cluster:
            layout.label(text=cluster_line(session.cluster), icon='NETWORK_DRIVE')
    else:
        row.operator("kino.stylize", icon='BRUSHES_ALL')
    if QUEUE.last_error:
        wrap(layout.box(), QUEUE.last_error, icon='ERROR')
    elif QUEUE.finished and not QUEUE.active:
        last = QUEUE.finished[-1]
        layout.label(text=f"Last: {last.label} {last.state}", icon='CHECKMARK')
        if QUEUE.dropped:  # cancelled with the queue before they started
            wrap(layout, f"Not started: {', '.join(QUEUE.dropped)}", icon='CANCEL')
        if getattr(last, "warning", ""):  # e.g. strips the result now covers, a variable frame rate
            wrap(layout.box(), last.warning, icon='INFO')
        if last.state == "completed":  # a cancelled job's figure is of part of the clip
            draw_figure(layout, last.session.provenance)


def cluster_line(info: dict) -> str:
    """"Cluster: 2 workers, 3.40 frames/s" from a job's progress or its provenance record."""
    workers = info.get("workers")
    count = len(workers) if isinstance(workers, list) else workers
    fps = info.get("frames_per_s")
    return f"Cluster: {count} workers" + (f", {fps:.2f} frames/s" if isinstance(fps, (int, float)) else "")


def draw_figure(layout, provenance: dict) -> None:
    """The clip's figures: face similarity (face_score stage) and flicker (the temporal stage's
    warping error of the result and of the source)."""
    stages = (provenance or {}).get("stages") or {}
    cluster = ((provenance or {}).get("timings") or {}).get("cluster")
    if isinstance(cluster, dict):
        layout.label(text=cluster_line(cluster), icon='NETWORK_DRIVE')
    face = stages.get("face_score") or stages.get("identity") or {}  # "identity": kino.json before 0.2
    if face.get("mean") is not None:
        layout.label(text=f"Face similarity: {face['mean']:.3f} over {face.get('frames_scored', 0)} frames",
                     icon='USER')
    fig = (stages.get("temporal") or {}).get("figure") or {}
    if fig.get("warp_error") is None:
        return
    text = f"Flicker (warping error): {fig['warp_error'] * 1000:.3f}e-3"
    if fig.get("source_warp_error"):
        text += f", source {fig['source_warp_error'] * 1000:.3f}e-3 ({fig['ratio_to_source']:.2f}x)"
    layout.label(text=text, icon='GRAPH')
