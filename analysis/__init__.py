"""News discourse analysis: corpus, topics, actors and sentiment, run as papermill notebooks.

Modules are named for what they hold: :mod:`analysis.corpus`, :mod:`analysis.embeddings`,
:mod:`analysis.topics`, :mod:`analysis.actors`, :mod:`analysis.sentiment`, :mod:`analysis.plots`,
:mod:`analysis.report`; :mod:`analysis.runner` executes the notebooks and writes the manifest.
"""

from analysis import config  # noqa: F401  (sets offline mode before any model library loads)

__version__ = "0.1.0"
__all__ = ["__version__"]
