//! The statistics behind the A/B-test functions, as plain functions of
//! numbers: `None` where the answer is undefined (an empty arm, no
//! variance), `Err` for an argument outside its domain.

/// The standard normal's upper tail, P(Z > z), accurate in the far tail
/// too (erfc, not 1 - cdf).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// What a test's p-value is of: a difference either way, or arm A's value
/// larger (smaller) than arm B's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Alternative {
    TwoSided,
    Larger,
    Smaller,
}

impl Alternative {
    /// The names of statsmodels (`larger`, `smaller`) and of SciPy
    /// (`greater`, `less`).
    pub fn parse(text: &str) -> Result<Alternative, String> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "two-sided" | "2s" => Ok(Alternative::TwoSided),
            "larger" | "greater" => Ok(Alternative::Larger),
            "smaller" | "less" => Ok(Alternative::Smaller),
            _ => Err(format!(
                "unknown alternative '{text}': use 'two-sided', 'larger' (A's rate above B's) or 'smaller'"
            )),
        }
    }

    /// The p-value of a statistic z, standard normal under no difference.
    fn normal_pvalue(self, z: f64) -> f64 {
        match self {
            Alternative::TwoSided => 2.0 * normal_sf(z.abs()),
            Alternative::Larger => normal_sf(z),
            Alternative::Smaller => normal_sf(-z),
        }
    }
}

/// p-value of the pooled two-proportion z-test (statsmodels'
/// `proportions_ztest`): are the conversion rates `x_a / n_a` and
/// `x_b / n_b` different (or A's larger, or smaller)?
pub fn proportions_z_pvalue(
    x_a: f64,
    n_a: f64,
    x_b: f64,
    n_b: f64,
    alternative: Alternative,
) -> Result<Option<f64>, String> {
    two_arms(x_a, n_a, x_b, n_b)?;
    if n_a == 0.0 || n_b == 0.0 {
        return Ok(None);
    }
    let pooled = (x_a + x_b) / (n_a + n_b);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    if se == 0.0 {
        return Ok(None); // no conversions, or all: no variance to test against
    }
    Ok(Some(
        alternative.normal_pvalue((x_a / n_a - x_b / n_b) / se),
    ))
}

/// The users needed in each of two equal arms for a two-sided
/// two-proportion test at level `alpha` to detect a change of the rate
/// from `baseline` to `baseline + effect` with probability `power`
/// (statsmodels' `NormalIndPower().solve_power` with the effect size of
/// `proportion_effectsize`, Cohen's h = 2 asin √p₁ - 2 asin √p₀). Both
/// tails count towards the power, as there; not rounded.
pub fn sample_size(
    baseline: f64,
    effect: f64,
    alpha: f64,
    power: f64,
) -> Result<Option<f64>, String> {
    let variant = baseline + effect;
    if !(baseline > 0.0 && baseline < 1.0 && variant > 0.0 && variant < 1.0) {
        return Err(format!(
            "the baseline rate {baseline} and the rate to detect {variant} (baseline + effect) must be between 0 and 1, exclusive"
        ));
    }
    for (what, v) in [("alpha", alpha), ("power", power)] {
        if !(v > 0.0 && v < 1.0) {
            return Err(format!("{what} {v} must be between 0 and 1, exclusive"));
        }
    }
    if power <= alpha {
        return Err(format!(
            "power {power} must exceed alpha {alpha}: a test with no users already rejects alpha of the time"
        ));
    }
    let h = (2.0 * variant.sqrt().asin() - 2.0 * baseline.sqrt().asin()).abs();
    if h == 0.0 {
        return Ok(None); // no effect to detect: no sample is enough
    }
    // power(s) = P(Z > c - s) + P(Z < -c - s), with s = h √(n/2): solve
    // for s by Newton's method from the one-tailed answer (the other tail
    // only lowers it), then n = 2 (s / h)².
    let c = normal_quantile(1.0 - alpha / 2.0);
    let density = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut s = (c + normal_quantile(power)).max(0.0);
    for _ in 0..100 {
        let f = normal_sf(c - s) + normal_sf(c + s) - power;
        let step = f / (density(c - s) - density(c + s));
        s -= step;
        if step.abs() <= 1e-15 * s.abs() {
            break;
        }
    }
    Ok(Some(2.0 * (s / h).powi(2)))
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

/// Welch's statistic of two arms given as count, mean and sample
/// variance: the difference of means, its standard error and the
/// Welch–Satterthwaite degrees of freedom. `None` when an arm has fewer
/// than two values or neither varies.
fn welch(a: Arm, b: Arm) -> Result<Option<(f64, f64, f64)>, String> {
    for arm in [a, b] {
        if !(arm.0 >= 0.0 && arm.2 >= 0.0) || arm.0.fract() != 0.0 {
            return Err(format!(
                "{} users with variance {}: a count must be whole and neither can be negative",
                arm.0, arm.2
            ));
        }
    }
    if a.0 < 2.0 || b.0 < 2.0 {
        return Ok(None); // a sample variance needs two values
    }
    let (se_a, se_b) = (a.2 / a.0, b.2 / b.0);
    let se2 = se_a + se_b;
    if se2 == 0.0 {
        return Ok(None); // no variance in either arm
    }
    let df = se2 * se2 / (se_a * se_a / (a.0 - 1.0) + se_b * se_b / (b.0 - 1.0));
    Ok(Some((a.1 - b.1, se2.sqrt(), df)))
}

/// An arm of a test of means: users, mean, sample variance.
pub type Arm = (f64, f64, f64);

/// Two-sided p-value of Welch's t-test from each arm's count, mean and
/// sample variance (SciPy's `ttest_ind_from_stats(..., equal_var=False)`
/// with standard deviations √var): do the means differ?
pub fn welch_t_pvalue(a: Arm, b: Arm) -> Result<Option<f64>, String> {
    Ok(welch(a, b)?.map(|(d, se, df)| t_two_tails(d / se, df)))
}

/// The confidence interval of the difference of means, mean_a - mean_b:
/// the difference ± the t quantile (Welch's degrees of freedom) times its
/// standard error.
pub fn welch_interval(a: Arm, b: Arm, confidence: f64) -> Result<Option<(f64, f64)>, String> {
    check_level(confidence)?;
    Ok(welch(a, b)?.map(|(d, se, df)| {
        let half = t_critical(df, 1.0 - confidence) * se;
        (d - half, d + half)
    }))
}

/// P(|T| > |t|) for Student's t with `df` degrees of freedom:
/// I_{df/(df+t²)}(df/2, 1/2).
fn t_two_tails(t: f64, df: f64) -> f64 {
    let t2 = t * t;
    // x = df / (df + t²) and 1 - x, each without cancellation.
    beta_reg(df / 2.0, 0.5, 1.0 / (1.0 + t2 / df), t2 / (df + t2))
}

/// The t > 0 whose two tails hold `alpha`: Newton's method on the tails,
/// kept inside a bracket that bisection narrows when a step leaves it.
fn t_critical(df: f64, alpha: f64) -> f64 {
    let ln_norm = -0.5 * df.ln() - ln_beta(df / 2.0, 0.5);
    let density = |t: f64| (ln_norm - (df + 1.0) / 2.0 * (t * t / df).ln_1p()).exp();
    let (mut low, mut high) = (0.0, normal_quantile(1.0 - alpha / 2.0));
    while t_two_tails(high, df) > alpha {
        (low, high) = (high, high * 2.0);
    }
    let mut t = high;
    for _ in 0..200 {
        let f = t_two_tails(t, df) - alpha;
        if f > 0.0 {
            low = t
        } else {
            high = t
        }
        let mut next = t + f / (2.0 * density(t));
        if !(next > low && next < high) {
            next = (low + high) / 2.0;
        }
        let done = (next - t).abs() <= 1e-15 * t;
        t = next;
        if done {
            break;
        }
    }
    t
}

/// The confidence interval of the relative lift x_a/n_a ÷ x_b/n_b - 1
/// (arm B the baseline): the delta method on the log of the ratio, whose
/// variance is 1/x_a - 1/n_a + 1/x_b - 1/n_b (statsmodels'
/// `confint_proportions_2indep(compare="ratio", method="log")`). `None`
/// when an arm has no conversions (no ratio to take the log of).
pub fn lift_interval(
    x_a: f64,
    n_a: f64,
    x_b: f64,
    n_b: f64,
    confidence: f64,
) -> Result<Option<(f64, f64)>, String> {
    two_arms(x_a, n_a, x_b, n_b)?;
    let z = critical(confidence)?;
    if x_a == 0.0 || x_b == 0.0 {
        return Ok(None);
    }
    let log_ratio = (x_a / n_a / (x_b / n_b)).ln();
    let se = (1.0 / x_a - 1.0 / n_a + 1.0 / x_b - 1.0 / n_b).sqrt();
    Ok(Some((
        (log_ratio - z * se).exp_m1(),
        (log_ratio + z * se).exp_m1(),
    )))
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
    two_arms(x_a, n_a, x_b, n_b)?;
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

/// Count, mean and the sum of squared deviations from the mean (M2) of a
/// sample, kept so that parts merge as the whole would (Chan, Golub and
/// LeVeque): the variance never comes from a difference of large sums of
/// squares, which loses every digit for values like 1e9 that vary by
/// units. The mean is held as a sum of two doubles, `mean + mean_low`, so
/// that differences of means (the merge's δ) keep their digits, and any
/// partitioning of the rows gives the same answer to about 1e-15.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    pub mean_low: f64,
    pub m2: f64,
}

/// a + b as the double nearest it and the rounding error (Knuth's TwoSum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let v = s - a;
    (s, (a - (s - v)) + (b - v))
}

impl Moments {
    /// The moments of `values` by the corrected two-pass algorithm: the
    /// mean from deviations from the first value, then the squared
    /// deviations from it, less the square of their sum's rounding.
    pub fn of(values: &[f64]) -> Moments {
        let Some(&shift) = values.first() else {
            return Moments::default();
        };
        let n = values.len() as f64;
        let (mean, mean_low) = two_sum(shift, values.iter().map(|v| v - shift).sum::<f64>() / n);
        let (mut squares, mut sum) = (0.0, 0.0);
        for v in values {
            let d = (v - mean) - mean_low;
            squares += d * d;
            sum += d;
        }
        let (mean, mean_low) = two_sum(mean, mean_low + sum / n);
        Moments {
            count: values.len() as u64,
            mean,
            mean_low,
            m2: squares - sum * sum / n,
        }
    }

    /// The moments of the union of two samples.
    pub fn merge(self, other: Moments) -> Moments {
        if other.count == 0 {
            return self;
        }
        if self.count == 0 {
            return other;
        }
        let count = self.count + other.count;
        let (n_a, n_b, n) = (self.count as f64, other.count as f64, count as f64);
        let delta = (other.mean - self.mean) + (other.mean_low - self.mean_low);
        let (mean, mean_low) = two_sum(self.mean, self.mean_low + delta * (n_b / n));
        Moments {
            count,
            mean,
            mean_low,
            m2: self.m2 + other.m2 + delta * delta * (n_a * n_b / n),
        }
    }

    /// The sample variance (n - 1 in the denominator), with two values or more.
    pub fn variance(&self) -> Option<f64> {
        (self.count >= 2).then(|| self.m2.max(0.0) / (self.count - 1) as f64)
    }
}

/// Both arms' conversions and users, as `counts` checks them.
fn two_arms(x_a: f64, n_a: f64, x_b: f64, n_b: f64) -> Result<(), String> {
    counts(x_a, n_a)?;
    counts(x_b, n_b)
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

/// The two-sided normal critical value of a confidence level in (0, 1).
fn critical(confidence: f64) -> Result<f64, String> {
    check_level(confidence)?;
    Ok(normal_quantile(1.0 - (1.0 - confidence) / 2.0))
}

fn check_level(confidence: f64) -> Result<(), String> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(format!(
            "the confidence level {confidence} must be between 0 and 1, exclusive (0.95 for 95 %)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_are_null_or_refused() {
        let two = Alternative::TwoSided;
        assert_eq!(proportions_z_pvalue(0.0, 0.0, 1.0, 10.0, two), Ok(None));
        assert_eq!(proportions_z_pvalue(0.0, 10.0, 0.0, 10.0, two), Ok(None));
        assert_eq!(proportions_z_pvalue(10.0, 10.0, 10.0, 10.0, two), Ok(None));
        assert!(proportions_z_pvalue(11.0, 10.0, 1.0, 10.0, two).is_err());
        assert!(Alternative::parse("bigger").is_err());
        assert_eq!(lift_interval(0.0, 10.0, 1.0, 10.0, 0.95), Ok(None));
        assert!(lift_interval(1.0, 10.0, 1.0, 10.0, 1.0).is_err());
        assert_eq!(sample_size(0.1, 0.0, 0.05, 0.8), Ok(None));
        assert!(sample_size(0.95, 0.1, 0.05, 0.8).is_err());
        assert!(sample_size(0.1, 0.01, 0.05, 0.01).is_err());
        assert!(welch_interval((5.0, 1.0, 1.0), (5.0, 1.0, 1.0), 0.0).is_err());
        assert_eq!(
            welch_interval((1.0, 1.0, 1.0), (5.0, 1.0, 1.0), 0.9),
            Ok(None)
        );
        assert!(welch_t_pvalue((2.5, 1.0, 1.0), (5.0, 1.0, 1.0)).is_err());
        assert!(srm_pvalue(1.0, 1.0, 1.0).is_err());
        assert!(srm_pvalue(1.0, 1.0, f64::NAN).is_err());
        assert_eq!(srm_pvalue(0.0, 0.0, 0.5), Ok(None));
        assert_eq!(srm_pvalue(500.0, 500.0, 0.5), Ok(Some(1.0)));
        assert_eq!(welch_t_pvalue((1.0, 3.0, 0.0), (10.0, 2.0, 1.0)), Ok(None));
        assert_eq!(welch_t_pvalue((5.0, 3.0, 0.0), (10.0, 2.0, 0.0)), Ok(None));
        assert!(welch_t_pvalue((5.0, 3.0, -1.0), (10.0, 2.0, 1.0)).is_err());
    }

    /// Every case of `tests/stats/cases.csv` (SciPy and statsmodels, made
    /// by `tests/stats/cases.py`) to 1e-9 relative; null where they give
    /// NaN; each function's worst error within the bound docs/functions.md gives.
    #[test]
    fn values_agree_with_scipy_and_statsmodels() {
        let table = include_str!("../../../tests/stats/cases.csv");
        let mut worst = std::collections::BTreeMap::<&str, f64>::new();
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let a: Vec<f64> = f[1..7]
                .iter()
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect();
            let (arm_a, arm_b) = ((a[0], a[1], a[2]), (a[3], a[4], a[5]));
            let got = match f[0] {
                "ab_z_pvalue" => {
                    let alternative = Alternative::parse(f[5]).unwrap_or(Alternative::TwoSided);
                    proportions_z_pvalue(a[0], a[1], a[2], a[3], alternative)
                }
                "srm_pvalue" => srm_pvalue(a[0], a[1], a[2]),
                "welch_t_pvalue" => welch_t_pvalue(arm_a, arm_b),
                "welch_diff_low" => {
                    welch_interval(arm_a, arm_b, f[7].parse().unwrap()).map(|i| i.map(|i| i.0))
                }
                "welch_diff_high" => {
                    welch_interval(arm_a, arm_b, f[7].parse().unwrap()).map(|i| i.map(|i| i.1))
                }
                "ab_diff_low" => proportions_diff_interval(a[0], a[1], a[2], a[3], a[4])
                    .map(|i| i.map(|(low, _)| low)),
                "ab_diff_high" => proportions_diff_interval(a[0], a[1], a[2], a[3], a[4])
                    .map(|i| i.map(|(_, high)| high)),
                "ab_lift_low" => {
                    lift_interval(a[0], a[1], a[2], a[3], a[4]).map(|i| i.map(|i| i.0))
                }
                "ab_lift_high" => {
                    lift_interval(a[0], a[1], a[2], a[3], a[4]).map(|i| i.map(|i| i.1))
                }
                "ab_sample_size" => sample_size(a[0], a[1], a[2], a[3]),
                "normal_quantile" => Ok(Some(normal_quantile(a[0]))),
                other => panic!("no function {other}"),
            }
            .unwrap();
            let expected: Option<f64> = (!f[8].is_empty()).then(|| f[8].parse().unwrap());
            match (got, expected) {
                (Some(g), Some(e)) => {
                    let rel = if e == 0.0 {
                        g.abs()
                    } else {
                        ((g - e) / e).abs()
                    };
                    assert!(rel <= 1e-9, "{line}: got {g}, relative error {rel:e}");
                    let w = worst.entry(f[0]).or_default();
                    *w = w.max(rel);
                }
                (g, e) => assert_eq!(g, e, "{line}"),
            }
        }
        // The worst errors seen (docs/functions.md), kept from growing unnoticed.
        for (function, error) in worst {
            let bound = match function {
                "welch_t_pvalue" => 1e-10,
                "welch_diff_low" | "welch_diff_high" => 1e-11,
                _ => 1e-12,
            };
            assert!(error <= bound, "{function}: worst relative error {error:e}");
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
            let z = |x_a, n_a, x_b, n_b, alternative| {
                proportions_z_pvalue(x_a, n_a, x_b, n_b, alternative).unwrap()
            };
            if let Some(p) = z(x_a, n_a, x_b, n_b, Alternative::TwoSided) {
                assert!((0.0..=1.0).contains(&p), "{case}: {p}");
                let swapped = z(x_b, n_b, x_a, n_a, Alternative::TwoSided).unwrap();
                assert!((p - swapped).abs() <= 1e-12 * p.max(1e-300), "{case}");
                let larger = z(x_a, n_a, x_b, n_b, Alternative::Larger).unwrap();
                let smaller = z(x_a, n_a, x_b, n_b, Alternative::Smaller).unwrap();
                assert!(
                    (larger + smaller - 1.0).abs() < 1e-12,
                    "{case}: one-sided tails"
                );
                assert!((2.0 * larger.min(smaller) - p).abs() <= 1e-12, "{case}");
                assert_eq!(
                    Some(larger),
                    z(x_b, n_b, x_a, n_a, Alternative::Smaller),
                    "{case}"
                );
            }
            if x_a > 0.0 && x_b > 0.0 {
                let (low, high) = lift_interval(x_a, n_a, x_b, n_b, 0.95).unwrap().unwrap();
                let lift = (x_a / n_a) / (x_b / n_b) - 1.0;
                assert!(
                    low <= lift && lift <= high && low > -1.0,
                    "{case}: lift {lift} outside [{low}, {high}]"
                );
                let (l4, h4) = lift_interval(4.0 * x_a, 4.0 * n_a, 4.0 * x_b, 4.0 * n_b, 0.95)
                    .unwrap()
                    .unwrap();
                assert!(
                    h4 - l4 < high - low,
                    "{case}: the lift's interval no narrower"
                );
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
            let (arm_a, arm_b) = ((n_a, m_a, v_a), (n_b, m_b, v_b));
            let p = welch_t_pvalue(arm_a, arm_b).unwrap().unwrap();
            let q = welch_t_pvalue(arm_b, arm_a).unwrap().unwrap();
            let (low, high) = welch_interval(arm_a, arm_b, level).unwrap().unwrap();
            assert!(
                low < m_a - m_b && m_a - m_b < high,
                "{case}: Welch's interval"
            );
            // The interval at 1 - p just reaches zero: p-value and interval agree.
            if p > 1e-6 && p < 0.999 {
                let (l0, h0) = welch_interval(arm_a, arm_b, 1.0 - p).unwrap().unwrap();
                let edge = if m_a > m_b { l0 } else { h0 };
                assert!(
                    edge.abs() <= 1e-9 * (h0 - l0),
                    "{case}: {edge} at level {}",
                    1.0 - p
                );
            }
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
        let two = Alternative::TwoSided;
        let a = proportions_z_pvalue(120.0, 1000.0, 150.0, 1100.0, two).unwrap();
        let b = proportions_z_pvalue(150.0, 1100.0, 120.0, 1000.0, two).unwrap();
        assert_eq!(a, b);
        let p = a.unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
}
