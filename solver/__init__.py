"""Part A: question specs → SymPy derivations → worked solutions."""
