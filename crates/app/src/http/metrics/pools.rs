//! The database pools as gauges read at each scrape, from the numbers the store gives
//! (the storage adapter knows nothing of Prometheus).

use auth_sea_orm::{PoolStats, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

/// One gauge per pool: its name, help, and how to read it.
type PoolGauge = (&'static str, &'static str, fn(&PoolStats) -> u32);

const GAUGES: [PoolGauge; 5] = [
    (
        "db_pool_open_connections",
        "Database connections open, idle or in use",
        |pool| pool.open,
    ),
    (
        "db_pool_idle_connections",
        "Database connections open and waiting in the pool",
        |pool| pool.idle,
    ),
    (
        "db_pool_in_use_connections",
        "Database connections taken from the pool, the hot lane's kept ones included",
        PoolStats::in_use,
    ),
    (
        "db_pool_max_connections",
        "The most database connections the pool opens",
        |pool| pool.max,
    ),
    (
        "db_pool_kept_connections",
        "Database connections the hot lane keeps out of the pool for the hot paths",
        |pool| pool.kept,
    ),
];

/// Reads the store's pools when the registry is encoded, so the numbers are never stale.
#[derive(Debug)]
pub(super) struct PoolCollector {
    store: Store,
}

impl PoolCollector {
    pub(super) fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // One reading for every gauge, so they describe the same moment as far as sqlx
        // allows.
        let pools = self.store.pool_stats();
        for (name, help, read) in GAUGES {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for pool in &pools {
                let labels = PoolLabels {
                    pool: pool.pool.as_str(),
                };
                let gauge = ConstGauge::new(i64::from(read(pool)));
                gauge.encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
