"""Generated gRPC code for the clusterlink.v1 API (see proto/). Do not edit the *_pb2* files."""
