"""Part A: the answers to the questions of problems/ read, marked and diagnosed.

    tokens      what a student wrote, as tokens        reader      a formula as written
    names       the names left of `=`                  numbers     a number as written, judged
    evaluate    formulas at points, with floats        proof       the exact proof, time-limited
    references  each question's references, cached    answers     one answer read
    diagnosis   what a wrong answer most likely is     marking     the marks of Part A
"""

from grader.parta.answers import ReadAnswer, read_answer
from grader.parta.diagnosis import Grouping, load_grouping
from grader.parta.marking import MAX_SHOWN, grade_parta, grade_question, known_questions
from grader.parta.numbers import clip
from grader.parta.references import QuestionRef, References, prepare, references

__all__ = ["MAX_SHOWN", "Grouping", "QuestionRef", "ReadAnswer", "References", "clip",
           "grade_parta", "grade_question", "known_questions", "load_grouping", "prepare",
           "read_answer", "references"]
