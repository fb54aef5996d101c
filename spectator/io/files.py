"""ReadEventRanges: JSONL files (optionally .gz) -> LineRanges; ReadEventLines: -> (origin, line) pairs.

A plain file is cut into ranges of whole lines, shuffled, and each range read on its own, so the
parsing after it spreads over every worker. Compressed files cannot be cut: one range each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems

SPLIT_BYTES = 4 << 20


class LineRange(NamedTuple):
    """Bytes [start, end) of a file, whole lines, the first of them numbered `first_line`.
    `end` is None for a compressed file: all of it."""

    path: str
    start: int
    end: int | None
    first_line: int


def line_ranges(metadata: FileMetadata, split_bytes: int = SPLIT_BYTES) -> Iterator[LineRange]:
    path, size = metadata.path, metadata.size_in_bytes
    if CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED:
        yield LineRange(path, 0, None, 1)
        return
    if size <= split_bytes:
        yield LineRange(path, 0, size, 1)
        return
    # Line numbers need the newlines before each range: one sequential read, far cheaper than the parsing.
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        start, line = 0, 1
        while block := f.read(split_bytes):
            if not block.endswith(b"\n"):
                block += f.readline()  # a range ends at the end of a line
            yield LineRange(path, start, start + len(block), line)
            start += len(block)
            line += block.count(b"\n")


def range_lines(r: LineRange) -> Iterator[tuple[str, bytes]]:
    """The non-blank lines of a range, as (file:line, line)."""
    if r.end is None:
        with FileSystems.open(r.path) as f:  # compression is chosen from the file name (.gz, .bz2, ...)
            lines = iter(f.readline, b"")  # compressed files have readline() but are not iterable
            yield from _numbered(r.path, lines, r.first_line)
        return
    with FileSystems.open(r.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.seek(r.start)
        data = f.read(r.end - r.start)
    yield from _numbered(r.path, data.split(b"\n"), r.first_line)


def _numbered(path: str, lines, first: int) -> Iterator[tuple[str, bytes]]:
    for number, line in enumerate(lines, start=first):
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield f"{path}:{number}", line


class ReadEventRanges(beam.PTransform):
    """The files matching `pattern` as LineRanges, shuffled so that workers share them."""

    def __init__(self, pattern: str, split_bytes: int | None = None):
        super().__init__()
        self.pattern = pattern
        self.split_bytes = split_bytes or SPLIT_BYTES

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[LineRange]:
        return (
            pbegin
            | "MatchFiles" >> fileio.MatchFiles(self.pattern, empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
            | "SplitFiles" >> beam.FlatMap(line_ranges, self.split_bytes)
            | "SpreadRanges" >> beam.Reshuffle()
        )


class ReadEventLines(beam.PTransform):
    """Every non-blank line of the files matching `pattern`, tagged with file:line."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[tuple[str, bytes]]:
        return pbegin | "ReadEventRanges" >> ReadEventRanges(self.pattern) | "ReadRanges" >> beam.FlatMap(range_lines)
