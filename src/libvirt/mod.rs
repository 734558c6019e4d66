//! libvirt access: the FFI boundary (the only `unsafe` in the crate, which also holds the
//! glibc allocator tuning), errors, and the domain, storage and capabilities XML the
//! collectors read.

pub mod domain_xml;
mod error;
#[allow(unsafe_code)]
mod ffi;
pub mod host_xml;
pub mod states;

pub use error::LibvirtError;
pub use ffi::{
    library_version, limit_malloc_arenas, release_free_memory, silence_default_error_printer,
    start_event_loop, BlockInfoRaw, BlockJobRaw, BlockStatsRaw, Connection, ControlInfoRaw, Domain,
    DomainEvent, DomainEventKind, DomainInfoRaw, GuestAddressRaw, GuestInterfaceRaw,
    InterfaceStatsRaw, JobStatsRaw, ParamValue, StatsRecord, Subscription, TypedParam, VcpuInfoRaw,
};
pub use ffi::{Network, NodeInfoRaw, PoolInfoRaw, StoragePool, StorageVolume, VolumeInfoRaw};

#[cfg(test)]
pub(crate) use ffi::test_connection;

/// libvirt's constants, re-exported so no other module needs `virt::sys`.
pub mod consts {
    pub use virt::sys::{
        VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE as STATS_ACTIVE_ONLY,
        VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS as STATS_ENFORCE,
        VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT as STATS_NOWAIT,
        VIR_CONNECT_LIST_DOMAINS_AUTOSTART as LIST_AUTOSTART,
        VIR_CONNECT_LIST_DOMAINS_PERSISTENT as LIST_PERSISTENT,
        VIR_DOMAIN_STATS_BALLOON as GROUP_BALLOON, VIR_DOMAIN_STATS_BLOCK as GROUP_BLOCK,
        VIR_DOMAIN_STATS_CPU_TOTAL as GROUP_CPU, VIR_DOMAIN_STATS_DIRTYRATE as GROUP_DIRTYRATE,
        VIR_DOMAIN_STATS_INTERFACE as GROUP_INTERFACE, VIR_DOMAIN_STATS_IOTHREAD as GROUP_IOTHREAD,
        VIR_DOMAIN_STATS_PERF as GROUP_PERF, VIR_DOMAIN_STATS_STATE as GROUP_STATE,
        VIR_DOMAIN_STATS_VCPU as GROUP_VCPU, VIR_DOMAIN_STATS_VM as GROUP_VM,
    };
    pub use virt::sys::{
        VIR_DOMAIN_GUEST_INFO_DISKS as GUEST_INFO_DISKS,
        VIR_DOMAIN_GUEST_INFO_FILESYSTEM as GUEST_INFO_FILESYSTEM,
        VIR_DOMAIN_GUEST_INFO_HOSTNAME as GUEST_INFO_HOSTNAME,
        VIR_DOMAIN_GUEST_INFO_LOAD as GUEST_INFO_LOAD, VIR_DOMAIN_GUEST_INFO_OS as GUEST_INFO_OS,
        VIR_DOMAIN_GUEST_INFO_TIMEZONE as GUEST_INFO_TIMEZONE,
        VIR_DOMAIN_GUEST_INFO_USERS as GUEST_INFO_USERS, VIR_IP_ADDR_TYPE_IPV4 as IP_ADDR_IPV4,
        VIR_IP_ADDR_TYPE_IPV6 as IP_ADDR_IPV6,
    };
    pub use virt::sys::{
        VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON as MEM_ACTUAL_BALLOON,
        VIR_DOMAIN_MEMORY_STAT_AVAILABLE as MEM_AVAILABLE,
        VIR_DOMAIN_MEMORY_STAT_DISK_CACHES as MEM_DISK_CACHES,
        VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC as MEM_HUGETLB_PGALLOC,
        VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL as MEM_HUGETLB_PGFAIL,
        VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE as MEM_LAST_UPDATE,
        VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT as MEM_MAJOR_FAULT,
        VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT as MEM_MINOR_FAULT,
        VIR_DOMAIN_MEMORY_STAT_RSS as MEM_RSS, VIR_DOMAIN_MEMORY_STAT_SWAP_IN as MEM_SWAP_IN,
        VIR_DOMAIN_MEMORY_STAT_SWAP_OUT as MEM_SWAP_OUT,
        VIR_DOMAIN_MEMORY_STAT_UNUSED as MEM_UNUSED, VIR_DOMAIN_MEMORY_STAT_USABLE as MEM_USABLE,
    };
}
