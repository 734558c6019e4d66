//! Encoder tests on hand-built snapshots.

use super::*;
use crate::encode::cap;
use crate::groups::vm::pattern_of;
use crate::snapshot::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

fn full_domain(name: &str) -> DomainStats {
    DomainStats {
        name: name.into(),
        uuid: "11111111-2222-3333-4444-555555555555".into(),
        id: Some(7),
        info: DomainInfo {
            os_type: Some("hvm".into()),
            arch: Some("x86_64".into()),
            machine: Some("pc-q35".into()),
            persistent: Some(true),
            autostart: Some(false),
            maximum_memory_bytes: Some(2 << 30),
            memory_bytes: Some(1 << 30),
            virtual_cpus: Some(2),
            labels: vec![("team", "payments".into())],
            openstack: Some(OpenStackInfo {
                instance_name: "shop-1".into(),
                flavor_name: "m1.small".into(),
                user_name: "alice".into(),
                user_id: "0c1e".into(),
                project_name: "shop".into(),
                project_id: "9f3a".into(),
            }),
        },
        state: Some(DomainState {
            state: 3,
            reason: 5,
        }),
        cpu: CpuStats {
            time_seconds: Some(12.5),
            user_seconds: Some(10.0),
            system_seconds: Some(2.5),
        },
        vcpu: VcpuStats {
            current: Some(2),
            maximum: Some(4),
            vcpus: vec![Vcpu {
                index: 1,
                state: Some(1),
                time_seconds: Some(3.0),
                wait_seconds: Some(0.5),
                delay_seconds: Some(0.25),
                physical_cpu: Some(3),
            }],
            totals: Some(VcpuTotals {
                time_seconds: Some(3.0),
                wait_seconds: Some(0.5),
                delay_seconds: Some(0.25),
            }),
        },
        balloon: BalloonStats {
            current_bytes: Some(1 << 30),
            maximum_bytes: Some(2 << 30),
            swap_in_bytes: Some(1),
            swap_out_bytes: Some(2),
            major_faults: Some(3),
            minor_faults: Some(4),
            unused_bytes: Some(5),
            available_bytes: Some(1000),
            usable_bytes: Some(250),
            rss_bytes: Some(7),
            disk_caches_bytes: Some(8),
            hugetlb_pgalloc: Some(9),
            hugetlb_pgfail: Some(10),
            last_update_seconds: Some(1_700_000_000),
        },
        blocks: vec![BlockStats {
            target_device: "vda".into(),
            source_file: Some("/img/a.qcow2".into()),
            bus: Some("virtio".into()),
            driver_type: Some("qcow2".into()),
            disk_type: Some("file".into()),
            read_requests: Some(11),
            read_bytes: Some(4096),
            read_seconds: Some(0.125),
            write_requests: Some(12),
            write_bytes: Some(8192),
            write_seconds: Some(0.5),
            flush_requests: Some(13),
            flush_seconds: Some(0.75),
            capacity_bytes: Some(1 << 26),
            allocation_bytes: Some(1 << 20),
            physical_bytes: Some(1 << 21),
            threshold_bytes: Some(1 << 25),
            xen_oo_requests: Some(5),
        }],
        interfaces: vec![InterfaceStats {
            target_device: "vnet0".into(),
            network: Some("lab-net".into()),
            bridge: Some("virbr-lab".into()),
            mac: Some("52:54:00:00:00:01".into()),
            model: Some("virtio".into()),
            interface_type: Some("network".into()),
            receive_bytes: Some(100),
            receive_packets: Some(2),
            receive_errors: Some(0),
            receive_drops: Some(0),
            transmit_bytes: Some(200),
            transmit_packets: Some(3),
            transmit_errors: Some(0),
            transmit_drops: Some(1),
        }],
        perf: PerfStats {
            cpu_clock_seconds: Some(1.5),
            task_clock_seconds: Some(1.25),
            cmt_bytes: Some(1 << 20),
            mbmt_bytes_per_second: Some(4096),
            mbml_bytes_per_second: Some(2048),
            events: BTreeMap::from([("cpu_cycles".to_string(), 42)]),
        },
        iothreads: vec![IoThreadStats {
            id: 1,
            poll_max_seconds: Some(3.2768e-5),
            poll_grow: Some(2),
            poll_shrink: Some(4),
        }],
        dirty_rate: DirtyRateStats {
            calc_status: Some(2),
            calc_start_time_seconds: Some(1_700_000_000),
            calc_period_seconds: Some(1),
            bytes_per_second: Some(1_048_576.0),
            vcpu_bytes_per_second: vec![(0, 524_288.0)],
        },
        job: JobStats {
            job_type: Some(2),
            time_elapsed_seconds: Some(4.056),
            time_remaining_seconds: Some(1.5),
            data_total_bytes: Some(100),
            data_processed_bytes: Some(40),
            data_remaining_bytes: Some(60),
            memory_total_bytes: Some(67_371_008),
            memory_processed_bytes: Some(14_675_968),
            memory_remaining_bytes: Some(52_695_040),
            file_total_bytes: Some(10),
            file_processed_bytes: Some(4),
            file_remaining_bytes: Some(6),
        },
        kvm: KvmStats {
            vm: vec![
                kvm("mmu_cache_miss", true, KvmValue::Count(12)),
                kvm("pages_4k", false, KvmValue::Count(3)),
            ],
            vcpus: vec![(
                1,
                vec![
                    kvm("exits", true, KvmValue::Count(198)),
                    kvm("halt_wait_seconds", true, KvmValue::Seconds(1.5)),
                    kvm("guest_mode", false, KvmValue::Count(1)),
                ],
            )],
            vcpu_totals: vec![
                kvm("exits", true, KvmValue::Count(203)),
                kvm("blocking", false, KvmValue::Count(2)),
            ],
        },
        slow: vec![SlowResult {
            collector: "probe",
            taken_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_050)),
            stale: true,
        }],
        disk_errors: vec![DiskError {
            target_device: "vda".into(),
            error: 2,
        }],
        control: Some(ControlState {
            state: 3,
            reason: 2,
            seconds: 1.5,
        }),
        disk_limits: vec![DiskLimits {
            target_device: "vda".into(),
            limits: crate::groups::block_limit_parameters()
                .map(|parameter| Limit {
                    parameter,
                    value: 1000.0,
                })
                .collect(),
            group: Some("db".into()),
        }],
        interface_limits: vec![InterfaceLimits {
            target_device: "vnet0".into(),
            limits: crate::groups::interface_limit_parameters()
                .map(|parameter| Limit {
                    parameter,
                    value: 2048.0,
                })
                .collect(),
        }],
        tuning: Tuning {
            cpu_shares: Some(1024),
            cpu_periods: vec![("vcpu", 0.1)],
            cpu_quotas: vec![("vcpu", 0.05)],
            memory_limits: vec![
                ("hard_limit", 1 << 30),
                ("soft_limit", 1 << 29),
                ("swap_hard_limit", 1 << 31),
                ("min_guarantee", 1 << 28),
            ],
        },
        snapshots: Some(Snapshots {
            count: 2,
            oldest_seconds: Some(1_700_000_000),
            newest_seconds: Some(1_700_086_400),
        }),
        block_jobs: vec![BlockJob {
            target_device: "vda".into(),
            job_type: "copy".into(),
            processed_bytes: 100,
            total_bytes: 400,
            bandwidth_bytes_per_second: 1 << 20,
        }],
        guest: Some(Box::new(GuestStats {
            connected: Some(true),
            answered_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_060)),
            os: Some(GuestOs {
                id: "debian".into(),
                hostname: "web-1".into(),
                ..GuestOs::default()
            }),
            users: Some(1),
            filesystems: vec![GuestFilesystem {
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                target_devices: vec!["vda".into()],
                total_bytes: Some(1 << 30),
                used_bytes: Some(1 << 29),
            }],
            filesystems_reported: Some(1),
            disks: vec![GuestDisk {
                guest_device: "/dev/vda".into(),
                target_device: "vda".into(),
            }],
            addresses: vec![GuestAddress {
                interface: "eth0".into(),
                mac: "52:54:00:00:00:01".into(),
                target_device: "vnet0".into(),
                family: "ipv4",
                address: "192.0.2.1".into(),
                prefix: 24,
            }],
            addresses_reported: Some(1),
            load: [Some(0.5), Some(0.25), Some(0.125)],
        })),
    }
}

fn kvm(name: &str, cumulative: bool, value: KvmValue) -> KvmStat {
    KvmStat {
        name: name.into(),
        cumulative,
        peak: false,
        value,
    }
}

pub(crate) fn full_snapshot(domains: Vec<DomainStats>) -> Snapshot {
    let domain_events = domains
        .iter()
        .map(|d| DomainEvents {
            domain: d.name.clone(),
            counts: EventCounts {
                lifecycle: BTreeMap::from([((5, 1), 2), ((8, 0), 0)]),
                block_io_errors: BTreeMap::from([(
                    BlockIoError {
                        target_device: "vdb".into(),
                        action: 1,
                        reason: "enospc".into(),
                    },
                    3,
                )]),
                block_thresholds: BTreeMap::from([("vda".into(), 1)]),
                block_jobs: BTreeMap::from([(
                    BlockJobEvent {
                        target_device: "vda".into(),
                        job_type: 2,
                        status: 2,
                    },
                    1,
                )]),
            },
        })
        .collect();
    Snapshot {
        up: true,
        collected_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_100)),
        last_success: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_100)),
        domains,
        collectors: vec![CollectorOutcome {
            name: "block".into(),
            success: true,
            duration: Duration::from_millis(3),
        }],
        domain_errors: BTreeMap::from([("busy".to_string(), 2)]),
        exporter: ExporterStats {
            version: "0.1.0".into(),
            libvirt_library_version: Some("9.0.0".into()),
            resident_memory_bytes: Some(1),
            virtual_memory_bytes: Some(2),
            cpu_seconds: Some(0.5),
            open_fds: Some(3),
            max_fds: Some(4),
            start_time_seconds: Some(5.0),
            cycles: 6,
            failed_cycles: 1,
            web_config_reload_success: Some(false),
            web_config_last_reload_success_seconds: Some(1_700_000_000.0),
        },
        host: host::tests::full_host(),
        events: EventStats {
            subscribed: true,
            domains: domain_events,
            host: BTreeMap::from([((5, 1), 2), ((0, 0), 1)]),
        },
    }
}

fn text_of(s: Snapshot) -> String {
    text_with(s, EncodeOptions::default())
}

fn text_with(s: Snapshot, options: EncodeOptions) -> String {
    String::from_utf8(
        encode(Arc::new(s), &Format::ALL, options)
            .plain(Format::Text)
            .to_vec(),
    )
    .unwrap()
}

/// The number of samples in a text exposition, counted on the whole text (the encoder
/// counts them as they stream into gzip).
fn count_series(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn gunzip(gz: &[u8]) -> String {
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut plain).unwrap();
    plain
}

/// What prometheus-client's own encoders write for `collector`, into Strings.
fn reference(collector: SnapshotCollector) -> (String, String) {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry(collector.clone()))
        .unwrap();
    let mut openmetrics = String::new();
    prometheus_client::encoding::text::encode(&mut openmetrics, &registry(collector)).unwrap();
    (text, openmetrics)
}

/// Both formats of `e`, from the gzip bodies and from `plain`, equal `text` and `openmetrics`.
fn assert_bodies(e: &Exposition, text: &str, openmetrics: &str) {
    assert_eq!(gunzip(e.gzip(Format::Text)), text);
    assert_eq!(gunzip(e.gzip(Format::OpenMetrics)), openmetrics);
    assert_eq!(&e.plain(Format::Text)[..], text.as_bytes());
    assert_eq!(&e.plain(Format::OpenMetrics)[..], openmetrics.as_bytes());
}

/// [`assert_bodies`] for every choice of formats encoded at once (the others encoded when
/// first asked for): a format's body never depends on which was encoded first, also under a
/// series cap, where the first one's count decides what is left out.
fn assert_bodies_whatever_is_encoded_first(
    snapshot: &Arc<Snapshot>,
    options: EncodeOptions,
    text: &str,
    openmetrics: &str,
) {
    let choices: [&[Format]; 5] = [
        &[],
        &[Format::Text],
        &[Format::OpenMetrics],
        &[Format::Text, Format::OpenMetrics],
        &[Format::OpenMetrics, Format::Text],
    ];
    for eager in choices {
        let e = encode(snapshot.clone(), eager, options);
        for format in Format::ALL {
            let expected =
                eager.contains(&format) || (eager.is_empty() && format == Format::OpenMetrics);
            assert_eq!(
                e.is_encoded(format),
                expected,
                "{format:?} with {eager:?} encoded at once"
            );
        }
        assert_bodies(&e, text, openmetrics);
    }
}

/// Exposed family names of an exposition, from its TYPE lines, with the type.
fn families(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (name.to_string(), kind.to_string())
        })
        .collect()
}

#[test]
fn a_full_snapshot_exposes_exactly_the_catalogue() {
    let text = text_of(full_snapshot(vec![full_domain("web")]));
    // KVM families are named after the kernel's statistics: the catalogue has their patterns.
    let exposed: BTreeSet<String> = families(&text)
        .into_iter()
        .map(|(n, _)| pattern_of(&n).unwrap_or(n))
        .collect();
    let catalogue: BTreeSet<String> = catalogue().into_iter().map(|(n, _)| n).collect();
    assert_eq!(exposed, catalogue);
}

#[test]
fn values_are_in_base_units_with_the_documented_names() {
    let text = text_of(full_snapshot(vec![full_domain("web")]));
    for line in [
        "libvirt_up 1",
        "libvirt_domains 1",
        "libvirt_domains_by_state{state=\"paused\"} 1",
        "libvirt_domains_by_state{state=\"running\"} 0",
        "libvirt_domain_info_state{domain=\"web\",state_desc=\"paused\",reason=\"ioerror\"} 3",
        "libvirt_domain_info_maximum_memory_bytes{domain=\"web\"} 2147483648",
        "libvirt_domain_info_cpu_time_seconds_total{domain=\"web\"} 12.5",
        "libvirt_domain_vcpu_delay_seconds_total{domain=\"web\",vcpu=\"1\"} 0.25",
        "libvirt_domain_memory_stats_used_percent{domain=\"web\"} 75.0",
        "libvirt_domain_memory_stats_major_fault_total{domain=\"web\"} 3",
        "libvirt_domain_memory_stats_swap_in_bytes_total{domain=\"web\"} 1",
        "libvirt_domain_memory_stats_swap_out_bytes_total{domain=\"web\"} 2",
        "libvirt_domain_block_stats_read_bytes_total{domain=\"web\",target_device=\"vda\"} 4096",
        "libvirt_domain_block_stats_capacity_bytes{domain=\"web\",target_device=\"vda\"} 67108864",
        "libvirt_domain_block_stats_xen_oo_requests_total{domain=\"web\",target_device=\"vda\"} 5",
        "libvirt_domain_interface_stats_transmit_drops_total{domain=\"web\",target_device=\"vnet0\"} 1",
        "libvirt_domain_perf_events_total{domain=\"web\",event=\"cpu_cycles\"} 42",
        "libvirt_domain_perf_cpu_clock_seconds_total{domain=\"web\"} 1.5",
        "libvirt_domain_perf_task_clock_seconds_total{domain=\"web\"} 1.25",
        "libvirt_domain_perf_cmt_bytes{domain=\"web\"} 1048576",
        "libvirt_domain_perf_mbmt_bytes_per_second{domain=\"web\"} 4096",
        "libvirt_domain_perf_mbml_bytes_per_second{domain=\"web\"} 2048",
        "libvirt_domain_dirty_rate_bytes_per_second{domain=\"web\"} 1048576.0",
        "libvirt_exporter_incomplete_domains{reason=\"busy\"} 2",
        "libvirt_exporter_incomplete_domains{reason=\"vanished\"} 0",
        "libvirt_exporter_collector_success{collector=\"block\"} 1",
        "libvirt_exporter_events_subscribed 1",
        "libvirt_domain_lifecycle_events_total{domain=\"web\",event=\"stopped\",detail=\"destroyed\"} 2",
        "libvirt_domain_lifecycle_events_total{domain=\"web\",event=\"crashed\",detail=\"panicked\"} 0",
        "libvirt_lifecycle_events_total{event=\"defined\",detail=\"added\"} 1",
        "libvirt_domain_block_io_error_events_total{domain=\"web\",target_device=\"vdb\",action=\"pause\",reason=\"enospc\"} 3",
        "libvirt_domain_block_threshold_events_total{domain=\"web\",target_device=\"vda\"} 1",
        "libvirt_domain_block_job_events_total{domain=\"web\",target_device=\"vda\",type=\"copy\",status=\"canceled\"} 1",
        "libvirt_exporter_web_config_reload_success 0",
        "libvirt_exporter_web_config_last_reload_success_timestamp_seconds 1700000000.0",
        "libvirt_exporter_dropped_series 0",
        "libvirt_domain_job_info_type{domain=\"web\"} 2",
        "libvirt_domain_job_info_time_elapsed_seconds{domain=\"web\"} 4.056",
        "libvirt_domain_job_info_memory_processed_bytes{domain=\"web\"} 14675968",
        "libvirt_domain_job_info_file_remaining_bytes{domain=\"web\"} 6",
        "libvirt_domain_vcpus_time_seconds_total{domain=\"web\"} 3.0",
        "libvirt_domain_vcpus_delay_seconds_total{domain=\"web\"} 0.25",
        "libvirt_domain_kvm_mmu_cache_miss_total{domain=\"web\"} 12",
        "libvirt_domain_kvm_pages_4k{domain=\"web\"} 3",
        "libvirt_domain_vcpu_kvm_exits_total{domain=\"web\",vcpu=\"1\"} 198",
        "libvirt_domain_vcpu_kvm_halt_wait_seconds_total{domain=\"web\",vcpu=\"1\"} 1.5",
        "libvirt_domain_vcpu_kvm_guest_mode{domain=\"web\",vcpu=\"1\"} 1",
        "libvirt_domain_vcpus_kvm_exits_total{domain=\"web\"} 203",
        "libvirt_domain_vcpus_kvm_blocking{domain=\"web\"} 2",
        "libvirt_domain_dirty_rate_calc_start_time_seconds{domain=\"web\"} 1700000000",
        "libvirt_domain_openstack_info{domain=\"web\",instance_name=\"shop-1\",instance_id=\"11111111-2222-3333-4444-555555555555\",flavor_name=\"m1.small\",user_name=\"alice\",user_id=\"0c1e\",project_name=\"shop\",project_id=\"9f3a\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains(
        "libvirt_domain_info{domain=\"web\",uuid=\"11111111-2222-3333-4444-555555555555\",os_type=\"hvm\",os_type_arch=\"x86_64\",os_type_machine=\"pc-q35\",persistent=\"true\",autostart=\"false\",team=\"payments\"} 1"
    ), "{text}");
    assert!(text.contains("libvirt_domain_interface_stats_info{domain=\"web\",target_device=\"vnet0\",interface_type=\"network\",source_network=\"lab-net\",source_bridge=\"virbr-lab\",mac_address=\"52:54:00:00:00:01\",model_type=\"virtio\"} 1"));
}

#[test]
fn counters_and_only_counters_end_in_total() {
    let text = text_of(full_snapshot(vec![full_domain("web")]));
    for (name, kind) in families(&text) {
        assert_eq!(
            name.ends_with("_total"),
            kind == "counter",
            "{name} is a {kind}"
        );
    }
}

#[test]
fn absent_fields_give_no_series_and_a_vanished_domain_leaves_nothing() {
    let mut bare = DomainStats {
        name: "off".into(),
        uuid: "u".into(),
        ..Default::default()
    };
    bare.state = Some(DomainState {
        state: 5,
        reason: 1,
    });
    let text = text_of(full_snapshot(vec![bare]));
    assert!(!text.contains("libvirt_domain_block_stats"), "{text}");
    assert!(!text.contains("domain=\"web\""));
    assert!(text.contains(
        "libvirt_domain_info_state{domain=\"off\",state_desc=\"shutoff\",reason=\"shutdown\"} 5"
    ));
}

#[test]
fn an_unreachable_libvirt_without_data_reports_no_domain_counts() {
    let mut s = full_snapshot(vec![]);
    s.up = false;
    let text = text_of(s);
    assert!(text.contains("libvirt_up 0"));
    assert!(!text.contains("libvirt_domains"), "{text}");
    let mut s = full_snapshot(vec![]);
    s.up = true;
    assert!(text_of(s).contains("libvirt_domains 0"));
}

#[test]
fn hostile_names_are_escaped() {
    let name = "a \"quoted\" \\ back\nslash λ";
    let text = text_of(full_snapshot(vec![full_domain(name)]));
    assert!(text.contains(r#"libvirt_domains_by_state{state="paused"} 1"#));
    assert!(
        text.contains(r#"{domain="a \"quoted\" \\ back\nslash λ"}"#),
        "{text}"
    );
    assert!(text.lines().all(|l| l.is_empty()
        || l.starts_with('#')
        || l.starts_with(|c: char| c.is_ascii_alphabetic())));
}

#[test]
fn openmetrics_ends_with_eof_and_gzip_round_trips() {
    let e = encode(
        Arc::new(full_snapshot(vec![full_domain("web")])),
        &Format::ALL,
        EncodeOptions::default(),
    );
    let om = e.plain(Format::OpenMetrics);
    let om = std::str::from_utf8(&om).unwrap();
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE libvirt_domain info\n"));
    assert_eq!(gunzip(e.gzip(Format::OpenMetrics)), om);
    assert!(e.up);
}

#[test]
fn gzip_bodies_are_what_prometheus_client_writes() {
    let snapshot = Arc::new(full_snapshot(vec![full_domain("web"), full_domain("db")]));
    let (text, openmetrics) = reference(SnapshotCollector {
        snapshot: snapshot.clone(),
        shown: None,
        dropped: 0,
    });
    assert!(text.contains("domain=\"db\""), "{text}");
    assert_bodies_whatever_is_encoded_first(
        &snapshot,
        EncodeOptions::default(),
        &text,
        &openmetrics,
    );
}

#[test]
fn gzip_bodies_under_an_exceeded_cap_are_what_prometheus_client_writes() {
    let names = ["c", "a", "d", "b"];
    let s = full_snapshot(names.iter().map(|n| full_domain(n)).collect());
    let (uncapped, _) = reference(SnapshotCollector {
        snapshot: Arc::new(s.clone()),
        shown: None,
        dropped: 0,
    });
    let total = count_series(&uncapped);
    let max = total - 1;
    let options = EncodeOptions {
        max_series: Some(max),
    };
    let snapshot = Arc::new(s);
    // The cap's choice made from the whole text's count, as the encoder used to.
    let (shown, dropped) = cap::choose(&snapshot, total, max);
    assert_eq!(shown.len(), 3, "one domain left out");
    let (text, openmetrics) = reference(SnapshotCollector {
        snapshot: snapshot.clone(),
        shown: Some(Arc::new(shown)),
        dropped,
    });
    assert!(text.contains(&format!("libvirt_exporter_dropped_series {dropped}\n")));
    assert_bodies_whatever_is_encoded_first(&snapshot, options, &text, &openmetrics);
}

fn capped(domains: Vec<DomainStats>, max: Option<usize>) -> String {
    text_with(full_snapshot(domains), EncodeOptions { max_series: max })
}

fn shown_domains(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split("domain=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_series_cap_leaves_out_whole_domains_in_name_order() {
    let names = ["c", "a", "d", "b"];
    let domains = || names.iter().map(|n| full_domain(n)).collect::<Vec<_>>();
    let uncapped = capped(domains(), None);
    let total = count_series(&uncapped);
    let one = count_series(&capped(vec![full_domain("a")], None));
    let none = count_series(&capped(vec![], None));
    let per_domain = one - none;
    // Room for the fixed series, the domain counts and two and a half domains.
    let max = none + 2 * per_domain + per_domain / 2;
    let text = capped(domains(), Some(max));
    assert_eq!(
        shown_domains(&text),
        BTreeSet::from(["a".into(), "b".into()])
    );
    assert!(count_series(&text) <= max);
    assert!(text.contains(&format!(
        "libvirt_exporter_dropped_series {}\n",
        2 * per_domain
    )));
    assert!(
        text.contains("libvirt_domains 4\n"),
        "counts keep every domain"
    );
    assert!(text.contains("libvirt_domains_by_state{state=\"paused\"} 4\n"));
    assert!(
        text.contains("libvirt_up 1\n"),
        "the exporter's own families stay"
    );
    // A cap that every series fits under changes nothing.
    assert_eq!(capped(domains(), Some(total)), uncapped);
    // A cap below the fixed series drops every domain but nothing else.
    let tiny = capped(domains(), Some(1));
    assert!(shown_domains(&tiny).is_empty());
    assert!(tiny.contains(&format!(
        "libvirt_exporter_dropped_series {}\n",
        4 * per_domain
    )));
    assert!(tiny.contains("libvirt_exporter_build_info"));
}

#[test]
fn series_per_domain_counts_what_is_encoded() {
    let d = full_domain("a");
    let one = count_series(&capped(vec![d.clone()], None));
    let none = count_series(&capped(vec![], None));
    assert_eq!(
        cap::series_per_domain(&full_snapshot(vec![d])),
        vec![one - none]
    );
}

#[test]
fn lifecycle_details_of_newer_libvirt_are_named_and_unknown_ones_numbered() {
    let mut s = full_snapshot(vec![full_domain("web")]);
    // started/recreated (11.6), suspended/guest_shutdown (11.10), then numbers no libvirt
    // this exporter knows has: a detail of a known event and an event of its own.
    s.events.domains[0].counts.lifecycle = BTreeMap::from([((2, 5), 1), ((3, 9), 2), ((5, 12), 3)]);
    s.events.host = BTreeMap::from([((5, 7), 4), ((11, 2), 5)]);
    let text = text_of(s);
    for line in [
        "libvirt_domain_lifecycle_events_total{domain=\"web\",event=\"started\",detail=\"recreated\"} 1",
        "libvirt_domain_lifecycle_events_total{domain=\"web\",event=\"suspended\",detail=\"guest_shutdown\"} 2",
        "libvirt_domain_lifecycle_events_total{domain=\"web\",event=\"stopped\",detail=\"12\"} 3",
        "libvirt_lifecycle_events_total{event=\"stopped\",detail=\"recreated\"} 4",
        "libvirt_lifecycle_events_total{event=\"11\",detail=\"2\"} 5",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    for unnamed in ["detail=\"unknown\"", "event=\"unknown\""] {
        assert!(!text.contains(unnamed), "{text}");
    }
}
