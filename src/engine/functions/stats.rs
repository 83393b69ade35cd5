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
    for (x, n) in [(x_a, n_a), (x_b, n_b)] {
        if x < 0.0 || n < 0.0 || x > n || x.fract() != 0.0 || n.fract() != 0.0 {
            return Err(format!(
                "{x} conversions of {n} users: counts must be whole, with 0 <= conversions <= users"
            ));
        }
    }
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
    }

    /// Every case of `tests/stats/cases.csv` (SciPy and statsmodels, made
    /// by `tests/stats/cases.py`) to 1e-9 relative; null where they give NaN.
    #[test]
    fn values_agree_with_scipy_and_statsmodels() {
        let table = include_str!("../../../tests/stats/cases.csv");
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let a: Vec<f64> = f[1..5]
                .iter()
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().unwrap())
                .collect();
            let got = match f[0] {
                "ab_z_pvalue" => proportions_z_pvalue(a[0], a[1], a[2], a[3]),
                "srm_pvalue" => srm_pvalue(a[0], a[1], a[2]),
                other => panic!("no function {other}"),
            }
            .unwrap();
            let expected: Option<f64> = (!f[5].is_empty()).then(|| f[5].parse().unwrap());
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

    #[test]
    fn symmetric_arms_give_the_same_pvalue() {
        let a = proportions_z_pvalue(120.0, 1000.0, 150.0, 1100.0).unwrap();
        let b = proportions_z_pvalue(150.0, 1100.0, 120.0, 1000.0).unwrap();
        assert_eq!(a, b);
        let p = a.unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
}
