"""The image model: digests, references, media types, manifests, configs, compression."""
