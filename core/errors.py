"""The one base class of the errors dlhw reports to a user as a single line (exit status 1).

Each package raises its own subclass (SpecError, RosterError, ...); `cli.py` catches only this
base, so it need not import every package to report their errors.
"""


class DlhwError(Exception):
    """A problem with the user's input or environment, with a message that names it."""
