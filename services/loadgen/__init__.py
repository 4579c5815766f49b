"""The load generator: drives the whole shop through the gateway at a steady rate."""
