"""Kino's local models: registry (what is in the models folder), loader (one code path for a
user's checkpoint and the tiny test models), tokenizer building and tiny-model generation.

Importing this package is cheap: torch/diffusers are imported lazily inside the functions that need
them. Entry points:

- ``kino_backend.models.registry.scan(models_dir)`` -> list of plain dicts
- ``kino_backend.models.loader.load_img2img_pipeline(model_path, ...)`` -> ``LoadedPipeline``
- ``kino_backend.models.tiny.make_tiny(out_dir)`` -> dict of written paths
"""
