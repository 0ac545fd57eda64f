"""Keyframe mode works out the flows from the frames waiting for the next keyframe to it on the helper
thread while the look stylizes that keyframe (a GPU look leaves the CPU free then): filling the frames
afterwards computes no flow, and the frames are exactly those made without the prefetch."""
from __future__ import annotations

import threading

import numpy as np

from kino_backend.stages.temporal import spans

from .conftest import FlickerLook, panning_clip, run_stage


def _watch_close(monkeypatch, record):
    """Record how many flows each ``Span.close`` computes, and on which thread prefetching ran."""
    close, prefetch = spans.Span.close, spans.Span.prefetch_to

    def counted_close(self, key, out):
        before = self.tr.flows.computed
        result = close(self, key, out)
        record["close_flows"].append(self.tr.flows.computed - before)
        return result

    def watched_prefetch(self, key_src):
        record["prefetch_threads"].add(threading.current_thread().name)
        return prefetch(self, key_src)

    monkeypatch.setattr(spans.Span, "close", counted_close)
    monkeypatch.setattr(spans.Span, "prefetch_to", watched_prefetch)


def test_filling_finds_the_flows_to_the_new_keyframe_ready(monkeypatch):
    clip = panning_clip(13, dx=1.5)
    record = {"close_flows": [], "prefetch_threads": set()}
    _watch_close(monkeypatch, record)
    out, prov, _ = run_stage(clip, FlickerLook(), keyframe_interval=4)
    assert prov["keyframes"][:2] == [1, 5]
    assert record["close_flows"] and all(n == 0 for n in record["close_flows"])
    assert record["prefetch_threads"] and all(t.startswith("kino-temporal") for t in record["prefetch_threads"])

    monkeypatch.setattr(spans.Span, "prefetch_to", lambda self, key_src: None)  # as before: no prefetch
    record["close_flows"].clear()
    plain, plain_prov, _ = run_stage(clip, FlickerLook(), keyframe_interval=4)
    assert plain_prov["keyframes"] == prov["keyframes"]
    assert any(n > 0 for n in record["close_flows"])  # the fill had to compute them itself
    assert all(np.array_equal(a, b) for a, b in zip(out, plain))


def test_prefetch_is_bounded_by_the_flow_cache(monkeypatch):
    """A long gap (K=30) prefetches at most PREFETCH_FRAMES frames, nearest the keyframe first."""
    asked = []
    prefetch = spans.Span.prefetch_to

    def counted(self, key_src):
        flows = self.tr.flows
        before = flows.computed
        prefetch(self, key_src)
        asked.append((len(self.pending), flows.computed - before))

    monkeypatch.setattr(spans.Span, "prefetch_to", counted)
    run_stage(panning_clip(32, dx=1.0), FlickerLook(), keyframe_interval=30)
    pending, computed = asked[0]
    # the frame next to the keyframe shares its two flows with the consecutive link: already cached
    assert pending == 29 and computed == 2 * spans.PREFETCH_FRAMES - 2
