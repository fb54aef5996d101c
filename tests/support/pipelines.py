"""Test pipelines on the engine the product's DirectRunner runs on (spectator/pipeline/engine.py)."""

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from spectator.pipeline.engine import LocalRunner


def local_pipeline(options: PipelineOptions | None = None) -> TestPipeline:
    """A TestPipeline on LocalRunner: Beam's own DirectRunner would offer it to Prism first."""
    return TestPipeline(runner=LocalRunner(), options=options)
