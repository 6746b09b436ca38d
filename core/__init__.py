"""What every layer of dlhw shares: errors, resources and the course folder, the YAML node
reader, atomic writes, number formatting, the PDF build and the roster. Imports nothing of
solver/, nets/, grader/ or handout/."""
