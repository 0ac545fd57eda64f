"""In-betweens: new frames between two frames, from the frames alone (no source in between).

``motion``: every pixel of both frames is moved to its place at time t along its path (curved when
the frames before and after are known: real camera motion accelerates) by forward splatting, where
the occluder wins over what it covers. That gives two candidate motions through each pixel of the new
frame. ``synth`` samples both frames along each candidate, mixes the two samples by time and
visibility (content about to be covered, or just uncovered, comes from the one frame that sees it),
and weights the candidates by how well their two ends agree, so a wrong motion fades instead of
leaving a double image. ``sequence`` does a whole folder of frames; hard cuts are detected and never
interpolated across (the frames around a cut are held instead).
"""
from .motion import PairFlows
from .synth import interpolate_pair, plain_blend, symmetric_warp

__all__ = ["PairFlows", "interpolate_pair", "plain_blend", "symmetric_warp"]
