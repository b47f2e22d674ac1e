"""The hand-written regularized incomplete beta and Student's t tail (bptt.compare.stats) against closed
forms: Student's t has an elementary CDF for 1 to 4 degrees of freedom, and I_x(a, 1) = x^a,
I_x(1, b) = 1 - (1 - x)^b. No scipy: these are exact values, not another implementation."""

from __future__ import annotations

import math

import pytest

from bptt.compare.stats import _betainc, student_t_sf2

TS = [0.0, 0.1, 0.5, 1.0, 1.7, 2.5, 4.0, 10.0, 60.0]


def t_two_sided_exact(t: float, df: int) -> float:
    """P(|T| >= t) for Student's t, from its elementary CDF (df = 1: the Cauchy distribution)."""
    if df == 1:
        return 1.0 - 2.0 / math.pi * math.atan(t)
    if df == 2:
        return 1.0 - t / math.sqrt(2.0 + t * t)
    if df == 3:
        s = t / math.sqrt(3.0)
        cdf = 0.5 + (s / (1.0 + s * s) + math.atan(s)) / math.pi
        return 2.0 * (1.0 - cdf)
    if df == 4:
        u = 1.0 + t * t / 4.0
        cdf = 0.5 + 3.0 / 8.0 * t / math.sqrt(u) * (1.0 - t * t / (12.0 * u))
        return 2.0 * (1.0 - cdf)
    raise ValueError(df)


@pytest.mark.parametrize("df", [1, 2, 3, 4])
@pytest.mark.parametrize("t", TS)
def test_t_tail_matches_the_closed_form(t, df):
    assert student_t_sf2(t, df) == pytest.approx(t_two_sided_exact(t, df), rel=1e-10, abs=1e-14)


def test_t_tail_at_a_tabulated_critical_value_and_near_the_normal():
    # t_{0.975} with 10 degrees of freedom is 2.228138851986...: two-sided p = 0.05
    assert student_t_sf2(2.2281388519649385, 10) == pytest.approx(0.05, rel=1e-9)
    # df -> infinity: the normal tail erfc(t / sqrt 2), within O(1/df)
    for t in (0.5, 1.96, 3.0):
        assert student_t_sf2(t, 1e7) == pytest.approx(math.erfc(t / math.sqrt(2.0)), rel=1e-5)


@pytest.mark.parametrize("x", [1e-6, 0.05, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9])
@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 17.0])
def test_betainc_closed_forms_on_both_sides_of_the_symmetry(a, x):
    # x < (a+1)/(a+b+2) uses the continued fraction directly, above it I_x(a,b) = 1 - I_{1-x}(b,a):
    # these x values fall on both sides for every a here.
    assert _betainc(a, 1.0, x) == pytest.approx(x**a, rel=1e-11, abs=1e-15)
    assert _betainc(1.0, a, x) == pytest.approx(-math.expm1(a * math.log1p(-x)), rel=1e-11, abs=1e-15)


def test_betainc_ends_and_symmetry():
    assert _betainc(2.0, 3.0, 0.0) == 0.0 and _betainc(2.0, 3.0, 1.0) == 1.0
    for a, b, x in [(2.0, 3.0, 0.4), (0.5, 7.5, 0.1), (30.0, 2.0, 0.93)]:
        assert _betainc(a, b, x) == pytest.approx(1.0 - _betainc(b, a, 1.0 - x), rel=1e-12)
    # I_x(2, 2) = 3x^2 - 2x^3 (the Beta(2, 2) CDF)
    for x in (0.1, 0.5, 0.8):
        assert _betainc(2.0, 2.0, x) == pytest.approx(3 * x**2 - 2 * x**3, rel=1e-12)
