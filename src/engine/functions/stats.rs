//! The statistics behind the A/B-test functions, as plain functions of
//! numbers: `None` where the answer is undefined (an empty arm, no
//! variance), `Err` for an argument outside its domain.

/// The standard normal's upper tail, P(Z > z), accurate in the far tail
/// too (erfc, not 1 - cdf).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Two-sided p-value of the pooled two-proportion z-test (statsmodels'
/// `proportions_ztest` with its defaults): are the conversion rates
/// `x_a / n_a` and `x_b / n_b` different?
pub fn proportions_z_pvalue(x_a: f64, n_a: f64, x_b: f64, n_b: f64) -> Result<Option<f64>, String> {
    counts(x_a, n_a)?;
    counts(x_b, n_b)?;
    if n_a == 0.0 || n_b == 0.0 {
        return Ok(None);
    }
    let pooled = (x_a + x_b) / (n_a + n_b);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    if se == 0.0 {
        return Ok(None); // no conversions, or all: no variance to test against
    }
    let z = (x_a / n_a - x_b / n_b) / se;
    Ok(Some(2.0 * normal_sf(z.abs())))
}

/// p-value of the sample ratio mismatch check: Pearson's χ² goodness of
/// fit (one degree of freedom) of the arm sizes `n_a`, `n_b` against the
/// intended share `share_a` of arm A (SciPy's `chisquare`).
pub fn srm_pvalue(n_a: f64, n_b: f64, share_a: f64) -> Result<Option<f64>, String> {
    if !(share_a > 0.0 && share_a < 1.0) {
        return Err(format!(
            "the intended share {share_a} must be between 0 and 1, exclusive"
        ));
    }
    if n_a < 0.0 || n_b < 0.0 {
        return Err(format!("arm sizes {n_a} and {n_b} cannot be negative"));
    }
    let total = n_a + n_b;
    if total == 0.0 {
        return Ok(None);
    }
    let (e_a, e_b) = (total * share_a, total * (1.0 - share_a));
    let chi2 = (n_a - e_a).powi(2) / e_a + (n_b - e_b).powi(2) / e_b;
    // χ² with one degree of freedom is the square of a standard normal.
    Ok(Some(libm::erfc((chi2 / 2.0).sqrt())))
}

/// Two-sided p-value of Welch's t-test from each arm's count, mean and
/// sample variance (SciPy's `ttest_ind_from_stats(..., equal_var=False)`
/// with standard deviations √var): do the means differ? Degrees of freedom
/// by Welch–Satterthwaite; the two tails are I_{df/(df+t²)}(df/2, 1/2).
pub fn welch_t_pvalue(
    n_a: f64,
    mean_a: f64,
    var_a: f64,
    n_b: f64,
    mean_b: f64,
    var_b: f64,
) -> Result<Option<f64>, String> {
    if var_a < 0.0 || var_b < 0.0 || n_a < 0.0 || n_b < 0.0 {
        return Err(format!(
            "counts ({n_a}, {n_b}) and variances ({var_a}, {var_b}) cannot be negative"
        ));
    }
    if n_a < 2.0 || n_b < 2.0 {
        return Ok(None); // a sample variance needs two values
    }
    let (se_a, se_b) = (var_a / n_a, var_b / n_b);
    let se2 = se_a + se_b;
    if se2 == 0.0 {
        return Ok(None); // no variance in either arm
    }
    let t2 = (mean_a - mean_b).powi(2) / se2;
    let df = se2 * se2 / (se_a * se_a / (n_a - 1.0) + se_b * se_b / (n_b - 1.0));
    // x = df / (df + t²) and 1 - x, each without cancellation.
    let (x, y) = (1.0 / (1.0 + t2 / df), t2 / (df + t2));
    Ok(Some(beta_reg(df / 2.0, 0.5, x, y)))
}

/// The regularized incomplete beta function I_x(a, b), given x and
/// y = 1 - x (each exact where the other would lose digits), by its
/// continued fraction (modified Lentz), on the side where it converges.
fn beta_reg(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 || y >= 1.0 {
        return 0.0;
    }
    if y <= 0.0 || x >= 1.0 {
        return 1.0;
    }
    let front = (a * x.ln() + b * y.ln() - ln_beta(a, b)).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, y) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let nonzero = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / nonzero(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..1_000_000 {
        let m = m as f64;
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        for step in [even, odd] {
            d = 1.0 / nonzero(1.0 + step * d);
            c = nonzero(1.0 + step / c);
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// ln B(a, b). With a large argument, ln Γ(L) - ln Γ(L + s) is taken from
/// Stirling's series as one expression: the difference of two large
/// ln Γ values would lose digits (1e-9 at L = 700,000).
fn ln_beta(a: f64, b: f64) -> f64 {
    let (s, l) = if a < b { (a, b) } else { (b, a) };
    if l < 10.0 {
        return libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b);
    }
    let corr = |z: f64| {
        let z2 = z * z;
        (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * z2)) / z2) / z2) / z
    };
    libm::lgamma(s) - (l - 0.5) * (s / l).ln_1p() - s * (l + s).ln() + s + corr(l) - corr(l + s)
}

/// The standard normal's quantile: z with P(Z <= z) = p, for p in (0, 1).
/// A rational start (Abramowitz and Stegun 26.2.23, within 4.5e-4), then
/// Halley's steps on erfc until the last one moves it by nothing.
pub fn normal_quantile(p: f64) -> f64 {
    let lower = p.min(1.0 - p);
    let t = (-2.0 * lower.ln()).sqrt();
    let start = t
        - (2.515517 + t * (0.802853 + t * 0.010328))
            / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
    // Solve on the lower tail (z < 0), where erfc keeps every digit.
    let mut z = -start;
    for _ in 0..8 {
        let e = 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2) - lower;
        let u = e * (2.0 * std::f64::consts::PI).sqrt() * (z * z / 2.0).exp();
        let next = z - u / (1.0 + z * u / 2.0);
        let done = (next - z).abs() <= 1e-15 * z.abs().max(1.0);
        z = next;
        if done {
            break;
        }
    }
    if p < 0.5 { z } else { -z }
}

/// Wilson's score interval of a proportion x / n at `confidence`.
fn wilson(x: f64, n: f64, z: f64) -> (f64, f64) {
    let q = x / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (q + z2 / (2.0 * n)) / denom;
    let dist = z * (q * (1.0 - q) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    (center - dist, center + dist)
}

/// Newcombe's hybrid score interval (his method 10) of the difference of
/// rates x_a/n_a - x_b/n_b, from the arms' Wilson intervals (statsmodels'
/// `confint_proportions_2indep(method="newcomb")`).
pub fn proportions_diff_interval(
    x_a: f64,
    n_a: f64,
    x_b: f64,
    n_b: f64,
    confidence: f64,
) -> Result<Option<(f64, f64)>, String> {
    counts(x_a, n_a)?;
    counts(x_b, n_b)?;
    let z = critical(confidence)?;
    if n_a == 0.0 || n_b == 0.0 {
        return Ok(None);
    }
    let (p_a, p_b) = (x_a / n_a, x_b / n_b);
    let ((low_a, high_a), (low_b, high_b)) = (wilson(x_a, n_a, z), wilson(x_b, n_b, z));
    let d = p_a - p_b;
    Ok(Some((
        d - ((p_a - low_a).powi(2) + (high_b - p_b).powi(2)).sqrt(),
        d + ((high_a - p_a).powi(2) + (p_b - low_b).powi(2)).sqrt(),
    )))
}

/// Conversions and users that can be counts.
fn counts(x: f64, n: f64) -> Result<(), String> {
    if x < 0.0 || n < 0.0 || x > n || x.fract() != 0.0 || n.fract() != 0.0 {
        return Err(format!(
            "{x} conversions of {n} users: counts must be whole, with 0 <= conversions <= users"
        ));
    }
    Ok(())
}

/// The two-sided critical value of a confidence level in (0, 1).
fn critical(confidence: f64) -> Result<f64, String> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(format!(
            "the confidence level {confidence} must be between 0 and 1, exclusive (0.95 for 95 %)"
        ));
    }
    Ok(normal_quantile(1.0 - (1.0 - confidence) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_are_null_or_refused() {
        assert_eq!(proportions_z_pvalue(0.0, 0.0, 1.0, 10.0), Ok(None));
        assert_eq!(proportions_z_pvalue(0.0, 10.0, 0.0, 10.0), Ok(None));
        assert_eq!(proportions_z_pvalue(10.0, 10.0, 10.0, 10.0), Ok(None));
        assert!(proportions_z_pvalue(11.0, 10.0, 1.0, 10.0).is_err());
        assert!(srm_pvalue(1.0, 1.0, 1.0).is_err());
        assert!(srm_pvalue(1.0, 1.0, f64::NAN).is_err());
        assert_eq!(srm_pvalue(0.0, 0.0, 0.5), Ok(None));
        assert_eq!(srm_pvalue(500.0, 500.0, 0.5), Ok(Some(1.0)));
        assert_eq!(welch_t_pvalue(1.0, 3.0, 0.0, 10.0, 2.0, 1.0), Ok(None));
        assert_eq!(welch_t_pvalue(5.0, 3.0, 0.0, 10.0, 2.0, 0.0), Ok(None));
        assert!(welch_t_pvalue(5.0, 3.0, -1.0, 10.0, 2.0, 1.0).is_err());
    }

    /// Every case of `tests/stats/cases.csv` (SciPy and statsmodels, made
    /// by `tests/stats/cases.py`) to 1e-9 relative; null where they give NaN.
    #[test]
    fn values_agree_with_scipy_and_statsmodels() {
        let table = include_str!("../../../tests/stats/cases.csv");
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let a: Vec<f64> = f[1..7]
                .iter()
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().unwrap())
                .collect();
            let got = match f[0] {
                "ab_z_pvalue" => proportions_z_pvalue(a[0], a[1], a[2], a[3]),
                "srm_pvalue" => srm_pvalue(a[0], a[1], a[2]),
                "welch_t_pvalue" => welch_t_pvalue(a[0], a[1], a[2], a[3], a[4], a[5]),
                "ab_diff_low" => proportions_diff_interval(a[0], a[1], a[2], a[3], a[4])
                    .map(|i| i.map(|(low, _)| low)),
                "ab_diff_high" => proportions_diff_interval(a[0], a[1], a[2], a[3], a[4])
                    .map(|i| i.map(|(_, high)| high)),
                "normal_quantile" => Ok(Some(normal_quantile(a[0]))),
                other => panic!("no function {other}"),
            }
            .unwrap();
            let expected: Option<f64> = (!f[7].is_empty()).then(|| f[7].parse().unwrap());
            match (got, expected) {
                (Some(g), Some(e)) => {
                    let rel = if e == 0.0 {
                        g.abs()
                    } else {
                        ((g - e) / e).abs()
                    };
                    assert!(rel <= 1e-9, "{line}: got {g}, relative error {rel:e}");
                }
                (g, e) => assert_eq!(g, e, "{line}"),
            }
        }
    }

    /// A small deterministic generator, so that a failure names its case.
    fn draws(seed: u64) -> impl Iterator<Item = f64> {
        let mut state = seed;
        std::iter::repeat_with(move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
    }

    /// Over many random arms: p-values in [0, 1] and the same with the arms
    /// swapped; the interval holds the observed difference, mirrors when the
    /// arms swap, and narrows when both arms grow (the rates kept).
    #[test]
    fn properties_hold_over_random_arms() {
        let mut r = draws(2026);
        let mut next = || r.next().unwrap();
        for _ in 0..2000 {
            let n_a = (10f64.powf(1.0 + 5.0 * next())).round();
            let n_b = (10f64.powf(1.0 + 5.0 * next())).round();
            let (x_a, x_b) = ((n_a * next()).round(), (n_b * next()).round());
            let case = format!("{x_a}/{n_a} vs {x_b}/{n_b}");
            if let Some(p) = proportions_z_pvalue(x_a, n_a, x_b, n_b).unwrap() {
                assert!((0.0..=1.0).contains(&p), "{case}: {p}");
                let swapped = proportions_z_pvalue(x_b, n_b, x_a, n_a).unwrap().unwrap();
                assert!((p - swapped).abs() <= 1e-12 * p.max(1e-300), "{case}");
            }
            let level = [0.8, 0.9, 0.95, 0.99][(next() * 4.0) as usize % 4];
            let (low, high) = proportions_diff_interval(x_a, n_a, x_b, n_b, level)
                .unwrap()
                .unwrap();
            let d = x_a / n_a - x_b / n_b;
            assert!(
                low <= d + 1e-12 && d <= high + 1e-12,
                "{case}: {d} outside [{low}, {high}]"
            );
            assert!(-1.0 - 1e-12 <= low && high <= 1.0 + 1e-12, "{case}");
            let (l2, h2) = proportions_diff_interval(x_b, n_b, x_a, n_a, level)
                .unwrap()
                .unwrap();
            assert!(
                (l2 + high).abs() < 1e-12 && (h2 + low).abs() < 1e-12,
                "{case}: not mirrored"
            );
            let (l4, h4) =
                proportions_diff_interval(4.0 * x_a, 4.0 * n_a, 4.0 * x_b, 4.0 * n_b, level)
                    .unwrap()
                    .unwrap();
            assert!(
                h4 - l4 < high - low,
                "{case}: four times the users, no narrower"
            );
            let wider = proportions_diff_interval(x_a, n_a, x_b, n_b, 0.999)
                .unwrap()
                .unwrap();
            assert!(
                wider.0 <= low && high <= wider.1,
                "{case}: 99.9 % narrower than {level}"
            );
            let (m_a, m_b) = (100.0 * next(), 100.0 * next());
            let (v_a, v_b) = (1.0 + 50.0 * next(), 1.0 + 50.0 * next());
            let p = welch_t_pvalue(n_a, m_a, v_a, n_b, m_b, v_b)
                .unwrap()
                .unwrap();
            let q = welch_t_pvalue(n_b, m_b, v_b, n_a, m_a, v_a)
                .unwrap()
                .unwrap();
            assert!(
                (0.0..=1.0).contains(&p) && (p - q).abs() <= 1e-12,
                "{case}: {p} vs {q}"
            );
            let share = 0.05 + 0.9 * next();
            let srm = srm_pvalue(n_a, n_b, share).unwrap().unwrap();
            let mirrored = srm_pvalue(n_b, n_a, 1.0 - share).unwrap().unwrap();
            assert!(
                (0.0..=1.0).contains(&srm) && (srm - mirrored).abs() <= 1e-9,
                "{case}"
            );
        }
    }

    #[test]
    fn symmetric_arms_give_the_same_pvalue() {
        let a = proportions_z_pvalue(120.0, 1000.0, 150.0, 1100.0).unwrap();
        let b = proportions_z_pvalue(150.0, 1100.0, 120.0, 1000.0).unwrap();
        assert_eq!(a, b);
        let p = a.unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
}
