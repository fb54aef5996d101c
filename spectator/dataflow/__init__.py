"""Google Cloud Dataflow: the Flex Template launcher and the `spectator dataflow` commands."""
