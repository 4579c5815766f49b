"""The HTTP/JSON gateway in front of the shop's gRPC services."""
