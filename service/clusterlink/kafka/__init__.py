"""Kafka client construction and admin operations (confluent-kafka)."""
