"""Generated protobuf module for archsampler/v1/archsampler.proto. Do not edit.

Written by scripts/gen_protos.py: re-exports the generated copy that suits the installed
protobuf runtime (protobuf supports gencode of major V on runtimes V and V+1).
  _protobuf4/: grpcio-tools 1.51.3 for 4.21.6 <= protobuf < 6
  _protobuf6/: grpcio-tools 1.72.1 for 6.30.0 <= protobuf < 8
"""

from google.protobuf import __version__ as _runtime

_major = int(_runtime.split(".")[0])
if _major < 6:
    from archsampler_client.proto._protobuf4.archsampler_pb2 import *  # noqa: F403
elif _major < 8:
    from archsampler_client.proto._protobuf6.archsampler_pb2 import *  # noqa: F403
else:
    raise ImportError(
        f"archsampler-client supports protobuf 4.21.6 - 7.x; protobuf {_runtime} is installed"
    )
