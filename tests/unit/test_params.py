"""The parameters model: unknown keys and out-of-range values are errors that name them."""

from __future__ import annotations

import pytest

from analysis.errors import ParameterError
from analysis.params import Params, load_params, validate_params


def test_default_file_validates_and_is_frozen():
    p = load_params()
    assert p.run_name == "seeds" and p.corpus.path == "seeds"
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        p.seed = 1


def test_unknown_key_is_named():
    with pytest.raises(ParameterError, match=r"unknown parameter 'topics.unitt'"):
        validate_params({"topics": {"unitt": "sentence"}})


def test_out_of_range_names_parameter_allowed_and_value():
    with pytest.raises(ParameterError, match=r"'embeddings.batch_size'.*>= 1.*got 0"):
        validate_params({"embeddings": {"batch_size": 0}})
    with pytest.raises(ParameterError, match=r"'topics.unit'.*'auto', 'document', 'paragraph' or 'sentence'.*got 'word'"):
        validate_params({"topics": {"unit": "word"}})


def test_thresholds_must_be_ordered():
    with pytest.raises(ParameterError, match="negative_threshold"):
        validate_params({"sentiment": {"positive_threshold": 0.1, "negative_threshold": 0.2}})


def test_overrides_merge_and_revalidate(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("run_name: x\ntopics:\n  unit: document\n")
    p = load_params(f, {"topics": {"reduce_outliers": False}})
    assert (p.topics.unit, p.topics.reduce_outliers) == ("document", False)
    assert p.with_overrides({"seed": 7}).seed == 7
    with pytest.raises(ParameterError, match="parameters file not found"):
        load_params(tmp_path / "missing.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("run_name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params(f)


def test_section_hash_changes_only_with_its_sections():
    a, b = Params(), Params.model_validate({"topics": {"unit": "sentence"}})
    assert a.section_hash("corpus") == b.section_hash("corpus")
    assert a.section_hash("topics") != b.section_hash("topics")


def test_another_corpus_from_the_seeds_file_drops_the_seeds_reference_settings(tmp_path):
    """``run --corpus OTHER`` with the default parameters: not the seeds' float32 nor their gold file."""
    from analysis import config
    from analysis.cli import _overrides, build_parser

    def params(*argv):
        args = build_parser().parse_args(["run", *argv])
        return load_params(args.params, _overrides(args))

    seeds = params()
    assert (seeds.embeddings.precision, seeds.actors.gold) == ("float32", "tests/data/gold_actor_mentions.csv")
    other = params("--corpus", str(tmp_path / "articles.csv"))
    assert (other.embeddings.precision, other.actors.gold) == ("auto", None)   # bfloat16 where the CPU has it
    assert other.topics == seeds.topics and other.sentiment == seeds.sentiment
    assert params("--params", "seeds.yaml", "--corpus", str(tmp_path)).embeddings.precision == "auto"
    # the seeds themselves, however spelled, keep them; so does an explicit --set
    for same in ("seeds", str(config.PROJECT_ROOT / "seeds"), str(config.PROJECT_ROOT / "seeds") + "/"):
        assert params("--corpus", same).embeddings.precision == "float32"
    kept = params("--corpus", str(tmp_path), "--set", "embeddings.precision=float32")
    assert (kept.embeddings.precision, kept.actors.gold) == ("float32", None)
    # any other parameters file means what it says
    f = tmp_path / "mine.yaml"
    f.write_text("embeddings:\n  precision: float32\nactors:\n  gold: my_gold.csv\n")
    mine = params("--params", str(f), "--corpus", str(tmp_path / "b.csv"))
    assert (mine.embeddings.precision, mine.actors.gold) == ("float32", "my_gold.csv")
    # load_params itself adds nothing: a notebook's corpus_path leaves every stage on the file's values
    assert load_params(None, {"corpus": {"path": str(tmp_path)}}).embeddings.precision == "float32"
