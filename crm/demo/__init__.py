"""The deterministic demo bank used by `make run`, the tests and the benchmarks."""
