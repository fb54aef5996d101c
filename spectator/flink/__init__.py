"""The FlinkRunner's pieces: the Python worker pool, submission, and job management over REST."""
