"""archsampler_pb2 by grpcio-tools 1.72.1, for 6.30.0 <= protobuf < 8. Do not edit."""
