"""Character identity: face packs (insightface), face embeddings and similarity, character sheets.

Heavy libraries (torch, onnxruntime, insightface) are imported inside functions only.
"""
