"""dlhw's data: the Part A question specs (q*.yaml), the rubric, the reference metrics and the
hidden Part B checks (partb_checks.yaml and the harness partb_checks.py, run in the sandbox as a
script, never imported). Shipped as package data; read through core.resources."""
