"""The Flex Template's entry point: Dataflow's launcher runs this file with the job's parameters as flags."""

from __future__ import annotations

import logging
import os
import sys


def main(argv: list[str]) -> None:
    import apache_beam as beam

    from spectator.pipeline.build import build
    from spectator.pipeline.options import parse_options

    options = parse_options(argv)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    # Submit and return: the launch VM must not wait for the job (build.run waits for bounded runs).
    result = pipeline.run()
    logging.getLogger(__name__).info("submitted the pipeline: %s", result)


if __name__ == "__main__":
    # Run as a file, Python puts this folder first on sys.path, where validate.py (say) would shadow
    # a top-level module of that name for every import after this one.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    logging.basicConfig(level=logging.INFO)
    main(sys.argv[1:])
