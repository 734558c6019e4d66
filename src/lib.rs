//! libvirt-exporter: a Prometheus exporter for libvirt hosts.
//!
//! The pipeline, one module per stage: [`libvirt`] (the FFI boundary) → [`groups`] (one
//! module per statistics group: its libvirt calls, decoding and metric families, described
//! with [`family`]) run by [`collect`] (the collection engine) → [`snapshot`] (plain data) →
//! [`encode`] (Prometheus text and OpenMetrics) → [`exposition`] (the published bytes) →
//! [`http`] (the server).
#![deny(unsafe_code)]

pub mod cli;
pub mod collect;
pub mod encode;
pub mod exposition;
pub mod family;
pub mod groups;
pub mod http;
pub mod libvirt;
pub mod process;
pub mod snapshot;
