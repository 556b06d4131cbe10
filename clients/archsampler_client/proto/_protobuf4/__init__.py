"""archsampler_pb2 by grpcio-tools 1.51.3, for 4.21.6 <= protobuf < 6. Do not edit."""
