"""The gRPC API: validates requests and writes desired state to the store (never talks to Kafka)."""
