"""ClusterLink: exact-offset mirroring between Apache Kafka clusters."""
