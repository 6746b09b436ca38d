"""The solution handout: reads the runs (`handout.runs`) and renders them (`handout.render`).

It runs nothing: `dlhw handout --quick` makes quick runs first through nets.studies.
"""
