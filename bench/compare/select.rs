//! Which exporters a run measures: the default ones, or those `--only` names, and this
//! exporter's baseline build when `--baseline-exporter` gives one.

use crate::subjects::{Subject, ALL, DEFAULT};
use anyhow::bail;

/// The short names `--only` takes, for error messages.
fn names() -> String {
    ALL.map(Subject::short).join(", ")
}

/// The subjects to measure, in order: those `only` names (comma-separated short names, in the
/// order given), or the default ones with `Baseline` right after `Ours` when there is a
/// baseline.
pub fn subjects(only: Option<&str>, baseline: bool) -> anyhow::Result<Vec<Subject>> {
    let Some(only) = only else {
        let mut chosen = DEFAULT.to_vec();
        if baseline {
            chosen.insert(1, Subject::Baseline);
        }
        return Ok(chosen);
    };
    let mut chosen = Vec::new();
    for name in only.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(subject) = ALL.into_iter().find(|s| s.short() == name) else {
            bail!(
                "--only: no exporter is called {name:?}; the names are {}",
                names()
            );
        };
        if subject == Subject::Baseline && !baseline {
            bail!(
                "--only: \"baseline\" needs a baseline build: bench/run.sh --baseline REV \
                 (or --baseline-exporter PATH)"
            );
        }
        if !chosen.contains(&subject) {
            chosen.push(subject);
        }
    }
    if chosen.is_empty() {
        bail!("--only: name at least one exporter ({})", names());
    }
    if baseline && !chosen.contains(&Subject::Baseline) {
        bail!("--only leaves out the baseline that --baseline gives: add \"baseline\" to it");
    }
    Ok(chosen)
}

/// Whether a run measures what BENCHMARKS.md publishes; a comparison of chosen exporters is
/// only printed unless `--out` names a file for it.
pub fn writes_report(subjects: &[Subject], no_write: bool, out_given: bool) -> bool {
    !no_write && (subjects == DEFAULT || out_given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Subject::*;

    #[test]
    fn without_only_the_default_subjects_run_and_the_baseline_after_ours() {
        assert_eq!(subjects(None, false).unwrap(), DEFAULT);
        assert_eq!(
            subjects(None, true).unwrap(),
            [Ours, Baseline, OursPeerStats, Debian, Collectd]
        );
    }

    #[test]
    fn only_keeps_the_names_given_in_their_order_once_each() {
        assert_eq!(
            subjects(Some("ours,baseline"), true).unwrap(),
            [Ours, Baseline]
        );
        assert_eq!(
            subjects(Some(" baseline , ours,baseline,"), true).unwrap(),
            [Baseline, Ours]
        );
        assert_eq!(
            subjects(Some("collectd,ours-peerstats"), false).unwrap(),
            [Collectd, OursPeerStats]
        );
    }

    #[test]
    fn only_refuses_unknown_names_nothing_and_a_baseline_it_does_not_have() {
        let e = subjects(Some("ours,debain"), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--only: no exporter is called \"debain\"; the names are \
             ours, baseline, ours-peerstats, debian, collectd"
        );
        let e = subjects(Some(" , "), false).unwrap_err().to_string();
        assert!(e.starts_with("--only: name at least one exporter"), "{e}");
        let e = subjects(Some("ours,baseline"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bench/run.sh --baseline REV"), "{e}");
        let e = subjects(Some("ours"), true).unwrap_err().to_string();
        assert!(e.contains("add \"baseline\""), "{e}");
    }

    #[test]
    fn only_the_default_subjects_are_written_into_the_report_unless_out_is_given() {
        assert!(writes_report(&DEFAULT, false, false));
        assert!(!writes_report(&DEFAULT, true, false));
        assert!(!writes_report(&[Ours, Baseline], false, false));
        assert!(writes_report(&[Ours, Baseline], false, true));
        assert!(!writes_report(&[Ours, Baseline], true, true));
        let with_baseline = subjects(None, true).unwrap();
        assert!(!writes_report(&with_baseline, false, false));
    }
}
