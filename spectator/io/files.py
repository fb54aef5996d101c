"""ReadEventLines: JSONL files (optionally .gz) -> (origin, line) pairs for ParseEvents."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio


def _numbered_lines(readable: fileio.ReadableFile) -> Iterator[tuple[str, bytes]]:
    path = readable.metadata.path
    with readable.open() as f:  # compression is chosen from the file name (.gz, .bz2, ...)
        # Compressed files have readline() but are not iterable.
        for number, line in enumerate(iter(f.readline, b""), start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield f"{path}:{number}", line


class ReadEventLines(beam.PTransform):
    """Every non-blank line of the files matching `pattern`, tagged with file:line."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[tuple[str, bytes]]:
        return (
            pbegin
            | "MatchFiles" >> fileio.MatchFiles(self.pattern, empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
            | "ReadMatches" >> fileio.ReadMatches()
            | "NumberLines" >> beam.FlatMap(_numbered_lines)
        )
