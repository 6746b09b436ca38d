"""dlhw's Jinja templates (solutions, sheets, the handout, the results site) and the Gradescope
scripts. Shipped as package data; read through core.resources."""
