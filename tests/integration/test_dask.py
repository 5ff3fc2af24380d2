"""The ``compute.scheduler`` parameter's errors. The tables on Dask against pandas: test_engines.py."""

from __future__ import annotations

import pytest

from analysis import config
from analysis.params import load_params

pytest.importorskip("distributed")


@pytest.mark.slow                       # waits out Dask's connection timeout (about 20 s)
def test_unreachable_scheduler_is_a_clear_error():
    from analysis.errors import ParameterError
    from analysis.parallel import dask_client

    with pytest.raises(ParameterError, match="cannot reach Dask scheduler"):
        dask_client("tcp://127.0.0.1:9", 1)


def test_bad_scheduler_value_names_the_parameter():
    from analysis.errors import ParameterError

    with pytest.raises(ParameterError, match="compute.scheduler"):
        load_params(config.DEFAULT_PARAMS_FILE).with_overrides({"compute": {"scheduler": "my laptop"}})
