"""Kafka: client settings, admin, the producer, and the Beam read."""
