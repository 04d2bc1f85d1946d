"""`make demo` / `omnishelf demo`: a whole simulated store in one process (docs/demo.md)."""
