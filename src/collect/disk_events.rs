//! What a disk event counts as: the disk an I/O error is about (libvirt names it by source
//! path and alias), the disk of a block threshold crossing (counted once although libvirt
//! reports it twice), and the key of a block job event.

use crate::snapshot::{BlockIoError, BlockJobEvent};

/// The counter key of an I/O error event; `None` for a negative action (never sent by
/// libvirt). `disks` are the domain's disks as (source file, target device), the most
/// current first (see [`io_error_disk`]).
pub fn io_error(
    disks: &[(&str, &str)],
    src_path: &str,
    dev_alias: &str,
    action: i32,
    reason: &str,
) -> Option<BlockIoError> {
    Some(BlockIoError {
        target_device: io_error_disk(disks, src_path, dev_alias),
        action: u32::try_from(action).ok()?,
        reason: if reason.is_empty() {
            "unspecified".to_string()
        } else {
            reason.to_string()
        },
    })
}

/// The target device of the disk an I/O error event names by source path and device alias:
/// the disk with that source file. Failing that (a network disk, the `block` collector off),
/// libvirt's alias (`virtio-disk1`), else the path, else `unknown`.
fn io_error_disk(disks: &[(&str, &str)], src_path: &str, dev_alias: &str) -> String {
    let by_path = disks
        .iter()
        .find(|(source, _)| !src_path.is_empty() && *source == src_path)
        .map(|(_, target)| target.to_string());
    by_path.unwrap_or_else(|| {
        [dev_alias, src_path]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    })
}

/// The counter key of a block job event; `None` for negative numbers.
pub fn block_job(disk: &str, job_type: i32, status: i32) -> Option<BlockJobEvent> {
    Some(BlockJobEvent {
        target_device: disk.to_string(),
        job_type: u32::try_from(job_type).ok()?,
        status: u32::try_from(status).ok()?,
    })
}

/// Tells apart block threshold crossings. libvirt reports a crossing on a disk's top image
/// set by target (`virsh domblkthreshold DOM vda N`) twice, as `vda` and then as `vda[1]`
/// (the image's index), one right after the other; a threshold set on an indexed image
/// (`vda[1]`, `vda[2]` for a backing image) is reported once, with its index.
#[derive(Debug, Default)]
pub struct ThresholdCrossings {
    /// The last crossing reported without an index, which its indexed twin may follow.
    last: Option<Crossing>,
}

#[derive(Debug, PartialEq, Eq)]
struct Crossing {
    uuid: String,
    disk: String,
    path: String,
    threshold: u64,
    excess: u64,
}

impl ThresholdCrossings {
    /// The disk (its target, without an image index) to count a threshold event of the
    /// domain with `uuid` for, or `None` for the second report of a crossing already counted.
    pub fn disk(
        &mut self,
        uuid: &str,
        dev: &str,
        path: &str,
        threshold: u64,
        excess: u64,
    ) -> Option<String> {
        let (disk, indexed) = match dev.split_once('[') {
            Some((disk, _)) => (disk, true),
            None => (dev, false),
        };
        let crossing = Crossing {
            uuid: uuid.to_string(),
            disk: disk.to_string(),
            path: path.to_string(),
            threshold,
            excess,
        };
        if indexed && self.last.as_ref() == Some(&crossing) {
            self.last = None;
            return None;
        }
        self.last = (!indexed).then_some(crossing);
        Some(disk.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_is_on_the_disk_with_its_source_else_on_the_alias_or_path() {
        let disks = [
            ("/img/a.qcow2", "vda"),
            ("/full/b.raw", "vdb"),
            ("/full/b.raw", "vdz"),
        ];
        let disk = |path, alias| {
            io_error(&disks, path, alias, 1, "enospc")
                .unwrap()
                .target_device
        };
        assert_eq!(disk("/full/b.raw", "virtio-disk1"), "vdb", "the first one");
        assert_eq!(disk("/img/c.qcow2", "virtio-disk9"), "virtio-disk9");
        assert_eq!(disk("/img/c.qcow2", ""), "/img/c.qcow2");
        assert_eq!(disk("", ""), "unknown");
    }

    #[test]
    fn an_io_error_without_a_reason_is_unspecified_and_a_negative_action_no_error() {
        let e = io_error(&[], "/d", "virtio-disk0", 2, "").unwrap();
        assert_eq!((e.action, e.reason.as_str()), (2, "unspecified"));
        assert_eq!(io_error(&[], "/d", "virtio-disk0", -1, "enospc"), None);
        assert_eq!(block_job("vda", 2, -1), None);
        assert_eq!(block_job("vda", -2, 0), None);
    }

    #[test]
    fn a_crossing_reported_twice_counts_once_for_its_disk() {
        let mut c = ThresholdCrossings::default();
        assert_eq!(c.disk("u", "vda", "/a", 1, 9).as_deref(), Some("vda"));
        assert_eq!(c.disk("u", "vda[1]", "/a", 1, 9), None, "its twin");
        // The same disk crossing again, its twin, then a backing image's threshold.
        assert_eq!(c.disk("u", "vda", "/a", 1, 9).as_deref(), Some("vda"));
        assert_eq!(c.disk("u", "vda[1]", "/a", 1, 9), None);
        assert_eq!(c.disk("u", "vda[2]", "/base", 5, 1).as_deref(), Some("vda"));
        // A threshold set on `vda[1]` itself is reported once, with the index.
        assert_eq!(c.disk("u", "vda[1]", "/a", 1, 9).as_deref(), Some("vda"));
        // Not twins: another domain, another disk, another crossing.
        assert_eq!(c.disk("u", "vdb", "/b", 1, 9).as_deref(), Some("vdb"));
        assert_eq!(c.disk("w", "vdb[1]", "/b", 1, 9).as_deref(), Some("vdb"));
        assert_eq!(c.disk("u", "vdc", "/c", 1, 9).as_deref(), Some("vdc"));
        assert_eq!(c.disk("u", "vdc[1]", "/c", 1, 10).as_deref(), Some("vdc"));
    }
}
