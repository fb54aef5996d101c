"""Apache Kafka from Maven Central jars, and Beam's KafkaIO expansion service assembled from served parts."""

# Kafka 3.9 is the last 3.x line: KRaft is production-ready, it runs on Java 17, and unlike 4.x its
# broker still speaks every older client protocol (KafkaIO's usual kafka-clients 2.4.1, kafka-python).
KAFKA_VERSION = "3.9.2"
