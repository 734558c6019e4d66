//! The metric selectors of a PromQL expression (`name{label op "value", ...}`), read from the
//! syntax tree that the `promql-parser` crate builds. An expression it cannot parse fails the
//! test that asked (promtool checks the same expressions separately).

use promql_parser::label::{MatchOp, METRIC_NAME};
use promql_parser::parser::{self, Expr, VectorSelector};

/// One vector selector of an expression (for a range `x[5m]`, the `x`).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// Its metric name: the name written before the braces, or its `__name__="..."` matcher;
    /// empty when it has neither.
    pub metric: String,
    /// Its label matchers, in the order written (`__name__` among them when so written).
    pub matchers: Vec<Matcher>,
    /// The selector as PromQL, e.g. `up{job="x"}`, to query it on its own.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    pub value: String,
}

/// Every vector selector of `expr`, in the order written; panics when `expr` is not PromQL.
pub fn selectors(expr: &str) -> Vec<Selector> {
    let tree =
        parser::parse(expr).unwrap_or_else(|e| panic!("promql-parser cannot parse {expr:?}: {e}"));
    let mut out = Vec::new();
    collect(&tree, &mut out);
    out
}

/// The metric names of every expression of `exprs` (each parsed on its own).
pub fn metric_names<'a>(exprs: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    exprs
        .into_iter()
        .flat_map(selectors)
        .map(|s| s.metric)
        .collect()
}

fn collect(expr: &Expr, out: &mut Vec<Selector>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(selector(vs)),
        Expr::MatrixSelector(ms) => out.push(selector(&ms.vs)),
        Expr::Aggregate(a) => {
            // `topk(k, v)`, `quantile(q, v)`: the parameter is written first
            if let Some(param) = &a.param {
                collect(param, out);
            }
            collect(&a.expr, out);
        }
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Unary(u) => collect(&u.expr, out),
        Expr::Paren(p) => collect(&p.expr, out),
        Expr::Subquery(s) => collect(&s.expr, out),
        Expr::Call(call) => call.args.args.iter().for_each(|arg| collect(arg, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::Extension(_) => unreachable!("the parser builds no extension nodes"),
    }
}

fn selector(vs: &VectorSelector) -> Selector {
    assert!(
        vs.matchers.or_matchers.is_empty(),
        "`or` inside a selector is not Prometheus' PromQL: {vs}"
    );
    let matchers: Vec<Matcher> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| Matcher {
            label: m.name.clone(),
            op: match m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Re(_) => "=~",
                MatchOp::NotRe(_) => "!~",
            }
            .to_string(),
            value: m.value.clone(),
        })
        .collect();
    let metric = vs.name.clone().unwrap_or_else(|| {
        matchers
            .iter()
            .find(|m| m.label == METRIC_NAME && m.op == "=")
            .map(|m| m.value.clone())
            .unwrap_or_default()
    });
    let bare = VectorSelector {
        offset: None,
        at: None,
        ..vs.clone()
    };
    Selector {
        metric,
        matchers,
        text: bare.to_string(),
    }
}
