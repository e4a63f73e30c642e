"""Run real Apache Kafka (KRaft) brokers from Maven Central jars, for tests and users."""
