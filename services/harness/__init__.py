"""What tests, benchmarks and chaos scenarios start around the shop (never used in production)."""
