"""Exercise mode: learners write the engine's pieces; the library's checks grade them.

``python -m tinygrad_edu.exercises start DIR`` writes stub files;
``python -m tinygrad_edu.exercises check DIR [N]`` runs the library's own
property tests on the learner's code and names what is wrong;
``python -m tinygrad_edu.exercises train DIR`` trains the learner's
TwoLayerNet on MNIST with the book's loop.
"""

from tinygrad_edu.exercises.walk import run_rule

__all__ = ["run_rule"]
