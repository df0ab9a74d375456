"""Typed records that cross a process or a disk: the scored batch, bands and outcomes, the
monitoring summary. The bottom layer: pydantic, dataclasses and pandas types only, so every
job and the service can read them without importing each other."""
