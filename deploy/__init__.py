"""Deployment manifests of the shop and the code that generates and checks them."""
