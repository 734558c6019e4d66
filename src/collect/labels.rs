//! `--domain.label NAME=XPATH`: labels for `libvirt_domain_info` taken from each domain's XML
//! with XPath 1.0, namespaced `<metadata>` elements included once their prefix is bound with
//! `--domain.label-namespace PREFIX=URI`.
//!
//! Everything that can be checked is checked at startup (label names, XPath syntax, unbound
//! prefixes), so a typo stops the exporter instead of yielding empty labels. Values are the
//! XPath string value (the first node in document order for a node set), trimmed and cut to
//! [`MAX_VALUE_CHARS`] characters. Expressions are compiled once at startup by `xpath_eval`
//! and evaluated over the XML parsed by roxmltree ([`xml_tree`]).

mod xml_tree;

use xpath_eval::{Expr, FunctionCall, LocationPath, NodeTest, PathExpr, PrimaryExpr, QName};

/// The longest label value kept, in characters; longer values are cut.
pub const MAX_VALUE_CHARS: usize = 256;

/// Labels `libvirt_domain_info` already has, and the ones Prometheus attaches to every series
/// of a target; a user label may not take these names.
pub const RESERVED: &[&str] = &[
    "domain",
    "uuid",
    "os_type",
    "os_type_arch",
    "os_type_machine",
    "persistent",
    "autostart",
    "job",
    "instance",
];

/// Why a `--domain.label` or `--domain.label-namespace` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("{0:?} is not NAME=VALUE")]
    NotAPair(String),
    #[error("{0:?} is not a valid label name; use letters, digits and _ and do not start with a digit or __")]
    BadName(String),
    #[error("label {0:?} is one of the exporter's own labels ({list}); choose another name", list = RESERVED.join(", "))]
    Reserved(String),
    #[error("label {0:?} is given twice")]
    Duplicate(String),
    #[error("{expr:?} is not a valid XPath 1.0 expression: {message}")]
    BadXPath { expr: String, message: String },
    #[error("{expr:?} uses the namespace prefix {prefix:?}, which is not bound; add --domain.label-namespace {prefix}=URI")]
    UnboundPrefix { expr: String, prefix: String },
    #[error("{0:?} is not a namespace prefix (an XML name without ':')")]
    BadPrefix(String),
    #[error("prefix {0:?} is bound twice to different URIs")]
    PrefixRebound(String),
}

/// One user-defined label.
#[derive(Debug, Clone)]
pub struct LabelSpec {
    /// Leaked once at startup: label names are `&'static str` throughout the encoder.
    pub name: &'static str,
    pub xpath: String,
    /// `xpath`, compiled.
    compiled: Expr,
}

/// Two labels are the same when their names and expressions read the same.
impl PartialEq for LabelSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.xpath == other.xpath
    }
}

impl Eq for LabelSpec {}

/// The labels and namespace bindings from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet {
    labels: Vec<LabelSpec>,
    namespaces: Vec<(String, String)>,
}

impl LabelSet {
    /// Checks `NAME=XPATH` and `PREFIX=URI` values and builds the set.
    pub fn new(labels: &[String], namespaces: &[String]) -> Result<LabelSet, LabelError> {
        let mut set = LabelSet::default();
        for pair in namespaces {
            let (prefix, uri) = split_pair(pair)?;
            if !is_ncname(prefix) {
                return Err(LabelError::BadPrefix(prefix.into()));
            }
            match set.namespaces.iter().find(|(p, _)| p == prefix) {
                Some((_, bound)) if bound != uri => {
                    return Err(LabelError::PrefixRebound(prefix.into()))
                }
                Some(_) => {}
                None => set.namespaces.push((prefix.into(), uri.into())),
            }
        }
        for pair in labels {
            let (name, xpath) = split_pair(pair)?;
            check_name(name)?;
            if set.labels.iter().any(|l| l.name == name) {
                return Err(LabelError::Duplicate(name.into()));
            }
            let compiled = set.compile(xpath)?;
            set.labels.push(LabelSpec {
                name: Box::leak(name.to_string().into_boxed_str()),
                xpath: xpath.to_string(),
                compiled,
            });
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.labels.iter().map(|l| l.name)
    }

    /// Compiles `expr` and checks that every namespace prefix it uses is bound.
    fn compile(&self, expr: &str) -> Result<Expr, LabelError> {
        let compiled = xpath_eval::parse(expr).map_err(|e| LabelError::BadXPath {
            expr: expr.into(),
            message: e.to_string(),
        })?;
        let mut used = Vec::new();
        prefixes(&compiled, &mut used);
        for prefix in used {
            if !self.namespaces.iter().any(|(p, _)| *p == prefix) {
                return Err(LabelError::UnboundPrefix {
                    expr: expr.into(),
                    prefix: prefix.to_owned(),
                });
            }
        }
        Ok(compiled)
    }

    /// Every label's value in `xml`, in the order the labels were given. A document that does
    /// not parse, or an expression that fails on it, gives empty values.
    pub fn evaluate(&self, xml: &str) -> Vec<(&'static str, String)> {
        if self.labels.is_empty() {
            return Vec::new();
        }
        let document = roxmltree::Document::parse(xml).ok();
        let lookup = |prefix: &str| {
            self.namespaces
                .iter()
                .find(|(p, _)| p == prefix)
                .map(|(_, uri)| uri.clone())
        };
        self.labels
            .iter()
            .map(|label| {
                let value = document
                    .as_ref()
                    .and_then(|doc| {
                        let mut context = xpath_eval::EvaluationContext::new(xml_tree::root(doc));
                        context.namespaces = Some(&lookup);
                        xpath_eval::evaluate(&label.compiled, &context).ok()
                    })
                    .map(|v| cap(v.to_xpath_string().trim()))
                    .unwrap_or_default();
                (label.name, value)
            })
            .collect()
    }
}

fn split_pair(pair: &str) -> Result<(&str, &str), LabelError> {
    match pair.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => Err(LabelError::NotAPair(pair.into())),
    }
}

/// A Prometheus label name that is not reserved.
pub fn check_name(name: &str) -> Result<(), LabelError> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    if !valid {
        return Err(LabelError::BadName(name.into()));
    }
    if RESERVED.contains(&name) {
        return Err(LabelError::Reserved(name.into()));
    }
    Ok(())
}

fn cap(value: &str) -> String {
    value.chars().take(MAX_VALUE_CHARS).collect()
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn is_ncname(s: &str) -> bool {
    s.starts_with(is_name_start) && s.chars().all(is_name_char)
}

/// Appends the namespace prefixes `expr` uses (in name tests, `p:*`, function and variable
/// names) to `out`.
fn prefixes<'e>(expr: &'e Expr, out: &mut Vec<&'e str>) {
    match expr {
        Expr::Or(l, r)
        | Expr::And(l, r)
        | Expr::Union(l, r)
        | Expr::Equality(l, _, r)
        | Expr::Relational(l, _, r)
        | Expr::Additive(l, _, r)
        | Expr::Multiplicative(l, _, r) => {
            prefixes(l, out);
            prefixes(r, out);
        }
        Expr::Negate(e) => prefixes(e, out),
        Expr::Path(PathExpr::Location(path)) => path_prefixes(path, out),
        Expr::Path(PathExpr::Filter(filter)) => {
            primary_prefixes(&filter.primary, out);
            filter.predicates.iter().for_each(|p| prefixes(p, out));
        }
        Expr::Path(PathExpr::FilterLocation(filter, path)) => {
            primary_prefixes(&filter.primary, out);
            filter.predicates.iter().for_each(|p| prefixes(p, out));
            path_prefixes(path, out);
        }
    }
}

fn path_prefixes<'e>(path: &'e LocationPath, out: &mut Vec<&'e str>) {
    for step in &path.steps {
        match &step.node_test {
            NodeTest::NamespaceWildcard(prefix) => out.push(prefix),
            NodeTest::QName(name) => qname_prefix(name, out),
            _ => {}
        }
        step.predicates.iter().for_each(|p| prefixes(p, out));
    }
}

fn primary_prefixes<'e>(primary: &'e PrimaryExpr, out: &mut Vec<&'e str>) {
    match primary {
        PrimaryExpr::Variable(name) => qname_prefix(name, out),
        PrimaryExpr::Parenthesized(e) => prefixes(e, out),
        PrimaryExpr::Function(FunctionCall { name, args }) => {
            qname_prefix(name, out);
            args.iter().for_each(|a| prefixes(a, out));
        }
        PrimaryExpr::Literal(_) | PrimaryExpr::Number(_) => {}
    }
}

fn qname_prefix<'e>(name: &'e QName, out: &mut Vec<&'e str>) {
    out.extend(name.prefix.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<domain type='kvm'>
      <name>web-1</name>
      <uuid>86c713ff-ab34-4152-8496-d8132993c31b</uuid>
      <title>Web server</title>
      <description>
        Serves the shop.
      </description>
      <metadata>
        <app:app xmlns:app="urn:example:app"><app:team id="42">payments</app:team></app:app>
        <other:x xmlns:other="urn:example:other"><other:team>wrong</other:team></other:x>
      </metadata>
      <devices><disk device='disk'><target dev='vda'/></disk><disk device='cdrom'><target dev='hdc'/></disk></devices>
    </domain>"#;

    fn set(labels: &[&str], namespaces: &[&str]) -> Result<LabelSet, LabelError> {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        LabelSet::new(&own(labels), &own(namespaces))
    }

    #[test]
    fn xpath_reads_title_description_and_namespaced_metadata() {
        let s = set(
            &[
                "title=/domain/title",
                "description=/domain/description",
                "team=/domain/metadata/a:app/a:team",
                "team_id=/domain/metadata/a:app/a:team/@id",
                "disks=count(/domain/devices/disk)",
                "first_disk=/domain/devices/disk/target/@dev",
                "missing=/domain/metadata/a:nothing",
            ],
            &["a=urn:example:app"],
        )
        .unwrap();
        assert_eq!(
            s.evaluate(XML),
            vec![
                ("title", "Web server".to_string()),
                ("description", "Serves the shop.".to_string()),
                ("team", "payments".to_string()),
                ("team_id", "42".to_string()),
                ("disks", "2".to_string()),
                ("first_disk", "vda".to_string()),
                ("missing", String::new()),
            ]
        );
    }

    #[test]
    fn the_prefix_is_bound_by_uri_not_by_the_documents_prefix() {
        let s = set(&["team=//x:team"], &["x=urn:example:other"]).unwrap();
        assert_eq!(s.evaluate(XML), vec![("team", "wrong".to_string())]);
    }

    #[test]
    fn long_values_are_cut_and_bad_documents_give_empty_values() {
        let long = format!("<domain><title>{}</title></domain>", "é".repeat(1000));
        let s = set(&["t=/domain/title"], &[]).unwrap();
        let v = &s.evaluate(&long)[0].1;
        assert_eq!(v.chars().count(), MAX_VALUE_CHARS);
        assert_eq!(s.evaluate("<domain><title>")[0].1, "");
    }

    #[test]
    fn label_names_are_validated() {
        assert_eq!(check_name("team"), Ok(()));
        assert_eq!(check_name("_x9"), Ok(()));
        for bad in ["9team", "te-am", "team.x", "λ", "__meta"] {
            assert_eq!(
                check_name(bad),
                Err(LabelError::BadName(bad.into())),
                "{bad}"
            );
        }
        for reserved in ["domain", "uuid", "instance", "os_type"] {
            assert!(matches!(check_name(reserved), Err(LabelError::Reserved(_))));
        }
        assert_eq!(
            set(&["a=/x", "a=/y"], &[]),
            Err(LabelError::Duplicate("a".into()))
        );
        assert_eq!(set(&["a"], &[]), Err(LabelError::NotAPair("a".into())));
    }

    #[test]
    fn bad_xpath_and_unbound_prefixes_are_refused_at_startup() {
        assert!(matches!(
            set(&["a=/domain/title["], &[]),
            Err(LabelError::BadXPath { .. })
        ));
        assert!(matches!(set(&["a=   "], &[]), Err(LabelError::NotAPair(_))));
        let err = set(&["a=/domain/metadata/nova:instance/nova:name"], &[]).unwrap_err();
        assert_eq!(
            err,
            LabelError::UnboundPrefix {
                expr: "/domain/metadata/nova:instance/nova:name".into(),
                prefix: "nova".into()
            }
        );
        assert!(err
            .to_string()
            .contains("--domain.label-namespace nova=URI"));
        assert!(matches!(
            set(&[], &["a:b=urn:x"]),
            Err(LabelError::BadPrefix(_))
        ));
        assert!(matches!(
            set(&[], &["a=urn:x", "a=urn:y"]),
            Err(LabelError::PrefixRebound(_))
        ));
    }

    #[test]
    fn prefixes_are_found_outside_literals_and_axes() {
        let used = |expr: &str| {
            let compiled = xpath_eval::parse(expr).unwrap();
            let mut out = Vec::new();
            prefixes(&compiled, &mut out);
            out.into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(used("/a/p:b/@q:c"), ["p", "q"]);
        assert_eq!(used("child::p:b | p2:*"), ["p", "p2"]);
        assert_eq!(used("/a[@b='x:y'][. = \"u:v\"]"), Vec::<String>::new());
        assert_eq!(used("attribute::id + 1.5"), Vec::<String>::new());
        assert_eq!(used("string-length(/a/b-c.d)"), Vec::<String>::new());
        assert_eq!(used("count(/a[f:g($v:w) > -(/x/y:z)])"), ["f", "v", "y"]);
    }
}
