"""`python -m controller.demo`: the same as `omnishelf demo` (scripts/check-demo uses it)."""

from controller.demo.cli import main

if __name__ == "__main__":
    main()
