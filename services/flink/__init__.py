"""A standalone Flink cluster for the FlinkRunner, with Beam's job server, the KafkaIO expansion
service and the Python worker pool."""
