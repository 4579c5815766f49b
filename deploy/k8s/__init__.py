"""Kubernetes manifests (kustomize): generated from the project sources, rendered, validated."""
