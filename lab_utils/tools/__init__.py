"""Course tooling on top of the labs' package: the self-checks students
run in the exercise notebooks, and (each a ``python -m`` command) the
notebook runner ``run_all``, the exercise generator ``exercises`` and the
Colab sync ``colab``.

Only ``selfcheck`` is imported here: it needs nothing beyond the core
package, so a student's ``from lab_utils.tools import self_check`` works
in Colab. The commands need the ``tools`` extra (papermill, jupytext,
nbformat, PyYAML): ``pip install -e ".[tools]"``.
"""

from .selfcheck import SelfCheckFailed, self_check

__all__ = ["SelfCheckFailed", "self_check"]
