"""The engine behind `--runner DirectRunner`: the one the tests use, chosen before the run.

Beam 2.70's DirectRunner first offers a pipeline it judges Prism can run (a bounded file replay,
say) to the PrismRunner, which downloads its binary from GitHub and, where that fails, falls back.
A replay then waited on DNS, or on a machine with internet access ran on another engine than the
one tested. LocalRunner makes the DirectRunner's other choice at once, with nothing downloaded:
the FnApiRunner, or the BundleBasedDirectRunner for what only it runs: a TestStream, and a
processing-time trigger (Sessions windows' early panes), which the FnApiRunner, with no clock,
fails on.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pipeline import Pipeline, PipelineVisitor
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle
from apache_beam.runners.runner import PipelineResult, PipelineRunner
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms import trigger
from apache_beam.transforms.core import WindowInto

FN_API = "FnApiRunner"
BUNDLE_BASED = "BundleBasedDirectRunner"


class _NeedsBundleBased(PipelineVisitor):
    def __init__(self) -> None:
        self.found = False

    def enter_composite_transform(self, applied_ptransform) -> None:
        self.visit_transform(applied_ptransform)

    def visit_transform(self, applied_ptransform) -> None:
        transform = applied_ptransform.transform
        if isinstance(transform, TestStream):
            self.found = True
        elif isinstance(transform, WindowInto):
            self.found = self.found or _fires_on_processing_time(transform.get_windowing(None).triggerfn)


def _fires_on_processing_time(fn: trigger.TriggerFn | None) -> bool:
    if fn is None:
        return False
    if isinstance(fn, trigger.AfterProcessingTime):
        return True
    parts = [getattr(fn, name, None) for name in ("early", "late", "underlying")] + list(getattr(fn, "triggers", ()))
    return any(_fires_on_processing_time(part) for part in parts)


def engine_of(pipeline: Pipeline) -> str:
    visitor = _NeedsBundleBased()
    pipeline.visit(visitor)
    return BUNDLE_BASED if visitor.found else FN_API


class LocalRunner(PipelineRunner):
    """The DirectRunner's engines without its detour through Prism."""

    def run_pipeline(self, pipeline: Pipeline, options: PipelineOptions) -> PipelineResult:
        if engine_of(pipeline) == BUNDLE_BASED:
            # Only its streaming mode has a clock for processing-time triggers; a bounded input ends all the same.
            options.view_as(StandardOptions).streaming = True
            return BundleBasedDirectRunner().run_pipeline(pipeline, options)
        # As the DirectRunner does: worker processes of a multi-process replay read the options here.
        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


def engine_name(result: PipelineResult) -> str:
    """The engine that ran a local pipeline, told by its result's type."""
    module = type(result).__module__
    return FN_API if "fn_api_runner" in module else BUNDLE_BASED if "direct" in module else type(result).__name__
