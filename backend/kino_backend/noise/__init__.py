"""Initial noise for the diffusion look that comes from the footage.

- ``advect``: Kino's sub-pixel noise transport (moves noise along optical flow while each frame
  stays exactly white unit Gaussian);
- ``clip``: the per-clip noise source (``fixed`` / ``warped``) fed with the source frames in order;
- ``inversion``: ``inverted`` noise by DDIM inversion of each frame (torch, lazily);
- ``inject``: hands Kino's noise to a diffusers img2img call;
- ``look``: the diffusion look's ``noise`` parameter;
- ``stats``: whiteness and motion-following measures (``bench noise``, tests).

numpy and cv2 at import; torch only inside the functions that need it.
"""
from .clip import NOISE_MODES, ClipNoise, fixed_noise

__all__ = ["NOISE_MODES", "ClipNoise", "fixed_noise"]
