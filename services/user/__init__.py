"""The user service: accounts with unique emails, over gRPC."""
