"""What every shop process shares: gRPC channels and servers, deadlines, admin port, faults."""
