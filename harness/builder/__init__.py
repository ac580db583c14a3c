"""Builder, commit and push (buildah's commit.go and push.go)."""
