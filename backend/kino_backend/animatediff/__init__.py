"""AnimateDiff for the diffusion look: motion modules over the user's SD 1.5 checkpoint, video-to-video
in sliding context windows blended per step.

- ``adapter``: recognise / configure / load motion modules (diffusers folders, original files);
- ``unet``: the motion UNet sharing the checkpoint UNet's modules (LoRAs, IP-Adapter act in it);
- ``windows``: context windows and their blending weights (pure logic);
- ``sampler``: VAE encode/decode and the windowed denoising loop (diffusers-equivalent for one window);
- ``conditioning``: prompt, ControlNet and IP-Adapter inputs per row of a UNet call;
- ``memory``: windows per call and VAE chunk from the free GPU memory;
- ``spool``: holds a clip's frames in memory up to a budget, then on disk;
- ``look``: the diffusion look's ``motion_adapter`` mode;
- ``tiny``: a tiny random MotionAdapter for tests (``models make-tiny``).

numpy at import; torch and diffusers inside the functions.
"""
