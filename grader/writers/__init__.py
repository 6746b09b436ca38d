"""Every output of grading, each a writer of the typed Results (grader/results.py);
grader/writers/formats.py lists them."""
