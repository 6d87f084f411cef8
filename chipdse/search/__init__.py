"""Design-space search: PLAS (architecture on a fixed chip), chip sizing and joint co-design.

Modules, in the order data flows through them:

* :mod:`~chipdse.search.space`: variables, the PLAS grid, the chip template's variables;
* :mod:`~chipdse.search.scenarios`: workloads, the paper's scenarios, budgets, objectives;
* :mod:`~chipdse.search.laws`: loss laws (PLAS Eq. 15, Chinchilla, fine-grained MoE);
* :mod:`~chipdse.search.problems`: the three problems, scoring populations at once;
* :mod:`~chipdse.search.pareto`: Pareto fronts and hypervolume;
* :mod:`~chipdse.search.methods`: grid, Latin hypercube, NSGA-II (the only pymoo import);
* :mod:`~chipdse.search.state`: the saved state of a long search (plain data, no pickle);
* :mod:`~chipdse.search.run`: :func:`run_search`, serial or Dask evaluation;
* :mod:`~chipdse.search.result`: :class:`SearchResult`, its files and plot;
* :mod:`~chipdse.search.recheck`: the front re-checked in the simulator;
* :mod:`~chipdse.search.robustness`: the front re-scored under uncertainty draws.

The front doors taking preset names (``search``, ``codesign``) are in :mod:`chipdse.api`.
"""

from chipdse.search.laws import LAWS, LossLaw, fit_law, fit_law_csv, get_law, perplexity
from chipdse.search.pareto import dominated_share, hypervolume, pareto_mask
from chipdse.search.problems import (
    ChipSizingProblem,
    CoDesignProblem,
    PlasProblem,
    SearchProblem,
    evaluate_phases,
)
from chipdse.search.result import SearchResult, pareto_figure
from chipdse.search.run import run_search
from chipdse.search.scenarios import OBJECTIVES, WORKLOADS, Budgets, Workload
from chipdse.search.space import CHIP_SPACE, PLAS_SPACE, Variable

__all__ = ["run_search", "SearchResult", "SearchProblem", "PlasProblem", "ChipSizingProblem",
           "CoDesignProblem", "evaluate_phases", "Workload", "WORKLOADS", "Budgets",
           "OBJECTIVES", "Variable", "PLAS_SPACE", "CHIP_SPACE", "pareto_mask", "hypervolume",
           "dominated_share", "pareto_figure", "LAWS", "LossLaw", "get_law", "fit_law",
           "fit_law_csv", "perplexity"]
