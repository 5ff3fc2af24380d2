"""precision: auto follows a measurement, not a CPU flag; the verdict is cached (fake timer, tiny layers)."""

from __future__ import annotations

import pytest

from analysis import accel, config


class FakeTimer:
    """A clock whose every timed pass lasts the next of ``durations`` (warm-ups first, then by round)."""

    def __init__(self, durations: list[float]):
        self.durations, self.now, self.calls = list(durations), 0.0, 0

    def __call__(self) -> float:
        if self.calls % 2:                 # the end of a pass
            self.now += self.durations.pop(0)
        self.calls += 1
        return self.now


@pytest.fixture(autouse=True)
def _small(monkeypatch, tmp_path):
    monkeypatch.setattr(accel, "_layer_shapes", lambda: (16, 32))
    monkeypatch.setattr(accel, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(accel, "_MEASURED", {})
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path))


def _rounds(f32: float, low: float, repeats: int = 3) -> list[float]:
    return [9.0, 9.0] + [f32, low] * repeats          # warm-ups do not count


@pytest.mark.parametrize(("low", "expected"), [(0.5, "bfloat16"), (0.89, "bfloat16"), (0.95, "float32"),
                                                (1.4, "float32")])
def test_the_verdict_follows_the_timings(low, expected):
    rec = accel.calibrate("cpu", "bfloat16", FakeTimer(_rounds(1.0, low)))
    assert rec["chosen"] == expected and rec["float32_s"] == 1.0 and rec["bfloat16_s"] == low


def test_the_best_round_counts():
    timer = FakeTimer([9.0, 9.0, 1.0, 2.0, 3.0, 0.6, 1.0, 2.0])
    assert accel.calibrate("cpu", "bfloat16", timer) == {"float32_s": 1.0, "bfloat16_s": 0.6,
                                                         "chosen": "bfloat16", "margin": 0.9}


def test_the_verdict_is_cached_per_machine_and_used_by_auto(monkeypatch):
    rec = accel.measured_precision("cpu", FakeTimer(_rounds(1.0, 0.5)))
    assert rec["chosen"] == "bfloat16" and rec["hardware"] == accel.cpu_name() and "torch" in rec
    files = list((config.cache_dir() / "precision").glob("*.json"))
    assert len(files) == 1

    def never(*a, **kw):
        raise AssertionError("measured again")

    monkeypatch.setattr(accel, "calibrate", never)
    assert accel.resolve_precision("auto", "cpu") == "bfloat16"       # read back from the cache
    assert accel.resolve_precision("float32", "cpu") == "float32"     # an explicit choice is not measured


def test_a_slower_bfloat16_is_never_chosen(monkeypatch):
    accel.measured_precision("cpu", FakeTimer(_rounds(1.0, 1.6)))     # AVX512-BF16 without AMX, say
    monkeypatch.setattr(accel, "_MEASURED", {})
    assert accel.resolve_precision("auto", "cpu") == "float32"


def test_without_native_bfloat16_nothing_is_measured(monkeypatch):
    monkeypatch.setattr(accel, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(accel, "calibrate", lambda *a, **kw: pytest.fail("measured"))
    rec = accel.measured_precision("cpu")
    assert rec["chosen"] == "float32" and "no native bfloat16" in rec["reason"]


def test_real_products_are_timed_and_the_verdict_follows_the_times():
    rec = accel.calibrate("cpu", "bfloat16")
    assert rec["float32_s"] > 0 and rec["bfloat16_s"] > 0
    faster = rec["bfloat16_s"] <= rec["margin"] * rec["float32_s"]
    assert rec["chosen"] == ("bfloat16" if faster else "float32")
