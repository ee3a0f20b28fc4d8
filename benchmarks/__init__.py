"""Benchmarks of issue #6 (docs/performance.md): dossier generator and runner."""
