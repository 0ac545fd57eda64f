"""PuLID (SDXL, v1 and v1.1): identity from one or a few face photos, as Kino's own code.

PuLID ("Pure and Lightning ID customization", Guo et al. 2024, Apache-2.0 reference implementation
ToTheBeginning/PuLID) conditions the SDXL UNet's cross-attention layers on ID tokens made from two face
encoders: the insightface recognizer's embedding (antelopev2 / glintr100) and the EVA02-CLIP-L-14-336
vision tower's embedding plus five of its intermediate hidden states. An ID encoder (``IDFormer`` in v1.1,
an MLP ``IDEncoder`` in v1) turns them into ID tokens; each cross-attention layer adds
``scale * attention(query, id_to_k(tokens), id_to_v(tokens))``, orthogonalised against the text
attention (``fidelity`` = ortho v2, ``style`` = ortho v1).

Modules (``eva_vit``, ``idformer``, ``attention`` import torch at module level and are only imported
lazily, by ``adapter``'s methods; ``adapter``, ``eva_shapes``, ``face_prep`` and ``tiny`` import it lazily):

* ``eva_vit``   - the EVA02 visual tower (2D RoPE, SwiGLU, sub-LN); config read from tensor shapes
  (``eva_shapes``, torch-free).
* ``idformer``  - IDFormer (v1.1) and IDEncoder (v1); config read from tensor shapes.
* ``attention`` - the diffusers attention processor with the ID branch.
* ``face_prep`` - alignment (FFHQ 5-point template), the face mask, the tower's input image.
* ``adapter``   - ``classify_pulid`` (no torch) and ``PulidAdapter`` (the public API).
* ``tiny``      - ``make_tiny_pulid``: random test weights in the real file formats.
"""
