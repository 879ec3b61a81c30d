"""Benchmarks; a package so that other scripts can `from benchmarks.codecs import measure`
(a plain `import codecs` would find the standard library module instead)."""
