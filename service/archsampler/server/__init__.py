"""The gRPC server: servicer, converters, status mapping and the server app."""
