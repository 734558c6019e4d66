//! What the command line says about domains beyond the collectors: which domains to report,
//! which labels to add from their XML, how finely to report vCPUs, and the series cap.

use super::labels::LabelSet;
use regex::Regex;
use std::time::Duration;

/// Domain options from the command line.
#[derive(Debug, Clone, Default)]
pub struct DomainOptions {
    pub filter: DomainFilter,
    /// `--domain.label` / `--domain.label-namespace`.
    pub labels: LabelSet,
    /// `--libvirt.metadata.nova`: read OpenStack Nova's metadata.
    pub nova: bool,
    /// `--domain.metadata-refresh`: how old a domain's cached XML may get while labels or the
    /// Nova preset read it (metadata can change without a restart or a device change).
    pub metadata_refresh: Duration,
    /// `--collector.vcpu.per-domain`: sums over the vCPUs instead of per-vCPU series.
    pub vcpu_per_domain: bool,
    /// `--collector.job.interval`: how often a running domain without a job is asked whether
    /// one started (zero: every cycle; see `job_schedule`).
    pub job_interval: Duration,
    /// `--web.max-series`: at most this many series per scrape (`None`: no cap).
    pub max_series: Option<usize>,
}

impl DomainOptions {
    /// Whether the domain XML is read for metadata, and so refetched now and then.
    pub fn reads_metadata(&self) -> bool {
        self.nova || !self.labels.is_empty()
    }
}

/// `--domain.include` / `--domain.exclude`: regular expressions matched against the whole
/// domain name. A domain is reported when it matches the include (if any) and not the exclude.
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl DomainFilter {
    /// Compiles the two expressions, each anchored at both ends.
    pub fn new(include: Option<&str>, exclude: Option<&str>) -> Result<Self, regex::Error> {
        let anchored = |r: &str| Regex::new(&format!("^(?:{r})$"));
        Ok(DomainFilter {
            include: include.map(anchored).transpose()?,
            exclude: exclude.map(anchored).transpose()?,
        })
    }

    pub fn accepts(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_and_exclude_match_whole_names_and_exclude_wins() {
        let f = DomainFilter::new(Some("web-.*|db"), Some(".*-test")).unwrap();
        assert!(f.accepts("web-1"));
        assert!(f.accepts("db"));
        assert!(!f.accepts("db2"), "anchored at the end");
        assert!(!f.accepts("my-web-1"), "anchored at the start");
        assert!(!f.accepts("web-1-test"), "exclude wins");
        let all = DomainFilter::default();
        assert!(all.accepts("anything") && all.is_empty());
        let only_exclude = DomainFilter::new(None, Some("lab-off")).unwrap();
        assert!(only_exclude.accepts("lab-run-1") && !only_exclude.accepts("lab-off"));
    }

    #[test]
    fn a_bad_expression_is_an_error() {
        assert!(DomainFilter::new(Some("web-("), None).is_err());
    }
}
