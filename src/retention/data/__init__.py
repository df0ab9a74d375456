"""The input tables: the data contract, loading and writing, and the built-in simulator."""
