//! Counting libvirt calls from libvirt's client-side debug log.
//!
//! The exporter under test runs with `LIBVIRT_LOG_FILTERS` (see [`LOG_FILTERS`]) writing to a
//! file. Every public API entry point logs a debug line named after the function (`virDomain…`,
//! `virConnect…`): those are the API calls. Every request sent to libvirtd logs
//! `RPC_CLIENT_MSG_TX_QUEUE` with the remote program number and `type=0` (a call): those are
//! the round trips (every scenario goes through libvirtd). Calls are grouped
//! into cycles by the gaps between them: a collector works in a burst, then sleeps.

use std::time::Duration;

/// Public API entry points (`libvirt.*` sources) and the RPC client (`rpc.netclient`).
pub const LOG_FILTERS: &str = "1:libvirt.domain 1:libvirt.host 1:rpc.netclient";

/// libvirt's remote program number (0x20008086); keepalive uses another.
const REMOTE_PROGRAM: &str = "prog=536903814 ";

/// API functions that only read or free the local handle and never reach a driver.
const LOCAL: &[&str] = &[
    "virDomainFree",
    "virDomainRef",
    "virDomainGetName",
    "virDomainGetUUID",
    "virDomainGetUUIDString",
    "virDomainGetID",
    "virDomainGetConnect",
    "virDomainStatsRecordListFree",
    "virConnectRef",
    "virConnectIsAlive",
    "virConnectRegisterCloseCallback",
    "virConnectUnregisterCloseCallback",
    "virConnectSetKeepAlive",
    "virConnectClose",
    "virConnectOpen",
    "virConnectOpenAuth",
    "virConnectOpenReadOnly",
    "virGetVersion",
];

/// Calls of one cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Burst {
    pub api: usize,
    pub rpc: usize,
}

/// Calls of the first cycle (connection, probing, first fetch of every domain) and the median
/// of the later ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCount {
    pub first: Burst,
    pub steady: Burst,
    pub cycles: usize,
}

/// Seconds since midnight of a log line's timestamp (`2025-11-21 01:13:45.123+0000: ...`).
fn seconds_of_day(line: &str) -> Option<f64> {
    let time = line.get(11..23)?;
    let (h, rest) = time.split_once(':')?;
    let (m, s) = rest.split_once(':')?;
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

enum Call {
    Api,
    Rpc,
}

fn classify(line: &str) -> Option<Call> {
    if line.contains("RPC_CLIENT_MSG_TX_QUEUE") {
        return (line.contains(REMOTE_PROGRAM) && line.contains(" type=0 ")).then_some(Call::Rpc);
    }
    // "<time>: <tid>: debug : virDomainGetInfo:123 : dom=..."
    let (_, rest) = line.split_once(": debug : ")?;
    let function = rest.split(':').next()?;
    (function.starts_with("vir") && !function.starts_with("virNet") && !LOCAL.contains(&function))
        .then_some(Call::Api)
}

/// Splits the log into bursts separated by more than `gap` without calls.
pub fn bursts(log: &str, gap: Duration) -> Vec<Burst> {
    let gap = gap.as_secs_f64();
    let mut out: Vec<Burst> = Vec::new();
    let mut last: Option<f64> = None;
    for line in log.lines() {
        let Some(call) = classify(line) else { continue };
        let Some(mut t) = seconds_of_day(line) else {
            continue;
        };
        if let Some(prev) = last {
            if t < prev - 43_200.0 {
                t += 86_400.0; // past midnight
            }
        }
        if last.is_none_or(|prev| t - prev > gap) {
            out.push(Burst::default());
        }
        last = Some(t);
        let b = out.last_mut().expect("pushed above");
        match call {
            Call::Api => b.api += 1,
            Call::Rpc => b.rpc += 1,
        }
    }
    out
}

/// The first burst and the median of the others (by API calls).
pub fn count(log: &str, gap: Duration) -> Option<CallCount> {
    let all = bursts(log, gap);
    let (first, rest) = all.split_first()?;
    let mut rest = rest.to_vec();
    rest.sort_by_key(|b| (b.api, b.rpc));
    let steady = rest.get(rest.len() / 2).copied().unwrap_or(*first);
    Some(CallCount {
        first: *first,
        steady,
        cycles: all.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_api_calls_and_round_trips_per_burst() {
        let log = "\
2025-11-21 01:13:45.100+0000: 1: debug : virConnectOpenAuth:1 : name=qemu:///system
2025-11-21 01:13:45.101+0000: 1: info : virNetClientSendInternal:2145 : RPC_CLIENT_MSG_TX_QUEUE: client=0x1 len=28 prog=536903814 vers=1 proc=66 type=0 status=0 serial=0
2025-11-21 01:13:45.102+0000: 1: debug : virConnectGetAllDomainStats:12579 : conn=0x1, stats=0x3f
2025-11-21 01:13:45.103+0000: 1: info : virNetClientSendInternal:2145 : RPC_CLIENT_MSG_TX_QUEUE: client=0x1 len=28 prog=536903814 vers=1 proc=344 type=0 status=0 serial=1
2025-11-21 01:13:45.104+0000: 1: debug : virDomainGetName:1829 : domain=0x2
2025-11-21 01:13:45.105+0000: 1: info : virNetClientSendInternal:2145 : RPC_CLIENT_MSG_TX_QUEUE: client=0x1 len=28 prog=1801807216 vers=1 proc=1 type=2 status=0 serial=0
2025-11-21 01:13:46.102+0000: 1: debug : virConnectGetAllDomainStats:12579 : conn=0x1, stats=0x3f
2025-11-21 01:13:46.103+0000: 1: info : virNetClientSendInternal:2145 : RPC_CLIENT_MSG_TX_QUEUE: client=0x1 len=28 prog=536903814 vers=1 proc=344 type=0 status=0 serial=2
2025-11-21 01:13:46.104+0000: 1: debug : virConnectListAllDomains:1 : conn=0x1
2025-11-21 01:13:46.105+0000: 1: info : virNetClientSendInternal:2145 : RPC_CLIENT_MSG_TX_QUEUE: client=0x1 len=28 prog=536903814 vers=1 proc=273 type=0 status=0 serial=3
2025-11-21 01:13:47.102+0000: 1: debug : virConnectGetAllDomainStats:12579 : conn=0x1, stats=0x3f
2025-11-21 01:13:47.103+0000: 1: info : virNetClientSendInternal:2145 : RPC_CLIENT_MSG_TX_QUEUE: client=0x1 len=28 prog=536903814 vers=1 proc=344 type=0 status=0 serial=4
";
        let b = bursts(log, Duration::from_millis(300));
        assert_eq!(
            b,
            [
                Burst { api: 1, rpc: 2 },
                Burst { api: 2, rpc: 2 },
                Burst { api: 1, rpc: 1 }
            ]
        );
        let c = count(log, Duration::from_millis(300)).unwrap();
        assert_eq!(c.first, Burst { api: 1, rpc: 2 });
        assert_eq!(c.steady, Burst { api: 2, rpc: 2 });
        assert_eq!(c.cycles, 3);
    }
}
