"""The image model: digests, references, media types, manifests (and the protocol the copy
engine speaks to them), configs, compression, and how to reach a registry."""
