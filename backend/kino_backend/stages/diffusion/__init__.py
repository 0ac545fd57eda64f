"""The diffusion look: Stable Diffusion img2img (``look``), its parameters (``params``), the pipeline
engine (``engine``), identity adapters (``faceid``, ``pulid``) and cross-frame attention (``xframe``)."""
