"""Real peers: launchers for real registries and helpers that run skopeo, buildah, docker."""
