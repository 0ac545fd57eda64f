"""Training: DreamBooth-style LoRA on a folder of images (``lora.train_lora``), saved with kohya keys.

torch / diffusers / peft are imported inside functions only.
"""
