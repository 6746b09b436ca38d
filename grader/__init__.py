"""dlhw grade: mark a student's submission against the references, explaining every mark."""
