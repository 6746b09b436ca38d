"""Part A: the answers to the questions of problems/ read, marked and diagnosed.

    tokens      what a student wrote, as tokens        reader      a formula as written
    latex       the reader's LaTeX commands            names       the names left of `=`
    remarks     a remark after an answer               numbers     a number as written, judged
    equations   left sides, working, labelled values   evaluate    formulas at points, floats
    proof       the exact proof, time-limited          references  each question's, cached
    placement   where each answer was filed            answers     one answer read
    diagnosis   what a wrong answer most likely is     marking     the marks of Part A
"""

from grader.parta.answers import ReadAnswer, read_answer
from grader.parta.diagnosis import Grouping, load_grouping
from grader.parta.marking import MAX_SHOWN, grade_parta, grade_question, known_questions
from grader.parta.numbers import clip
from grader.parta.placement import Placed, file_reading, place
from grader.parta.references import QuestionRef, References, prepare, references

__all__ = ["MAX_SHOWN", "Grouping", "Placed", "QuestionRef", "ReadAnswer", "References", "clip",
           "file_reading", "grade_parta", "grade_question", "known_questions", "load_grouping",
           "place", "prepare", "read_answer", "references"]
