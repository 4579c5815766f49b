"""Kubernetes manifests (kustomize): generation from the project's sources, rendering, validation."""
