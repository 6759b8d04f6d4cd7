"""`make bench-national`: a synthetic nation written in bulk into the event stores, the platform catching up
from it, and every dashboard read timed at each level under a background deposit load (bench/national/
runner.py). Figures, never pass/fail."""
