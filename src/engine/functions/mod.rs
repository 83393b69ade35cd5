//! `mart`'s own SQL functions, registered in every session (models,
//! `mart query`, the server) so that each path sees the same ones; each
//! documented with DataFusion's `Documentation`, which
//! `information_schema.routines` lists.

mod arm_stats;
mod calendar;
mod numeric;
mod retention;
mod stats;

use datafusion::logical_expr::DocSection;
use datafusion::prelude::SessionContext;

const SECTION: DocSection = DocSection {
    include: true,
    label: "A/B tests and cohorts (mart)",
    description: None,
};

/// Register every function of `mart`'s own in `ctx`.
pub fn register(ctx: &SessionContext) {
    for function in numeric::functions()
        .into_iter()
        .chain(calendar::functions())
    {
        ctx.register_udf(function);
    }
    ctx.register_udaf(arm_stats::function());
    ctx.register_udwf(retention::function());
}
