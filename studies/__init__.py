"""Reproducible experiments on chipdse's public API (``chipdse.api``; ``chipdse.io`` for files).

Each study is a module of this package exposing ``NAME``, ``QUESTION``, ``ORDER`` and
``run(out_dir, quick, seed) -> StudyResult``. They are registered in the ``chipdse.studies``
entry-point group of pyproject.toml, which is how ``chipdse study list`` and
``chipdse study run NAME|all -o DIR [--quick]`` find them: chipdse never imports this package.
"""
