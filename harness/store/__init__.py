"""The local image store (the role containers/storage plays for buildah)."""
