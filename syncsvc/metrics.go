package syncsvc

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports each connected system's sync state as Prometheus
// metrics, read from the database at each scrape (one query per system):
// what every Tessera process sees alike.
type Collector struct {
	e                                                             *Engine
	reachable, objects, pending, errors, unconfirmed, lastRunDone *prometheus.Desc
}

// NewCollector returns a collector for e's connected systems.
func NewCollector(e *Engine) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("tessera_sync_"+name, help, []string{"system"}, nil)
	}
	return &Collector{e: e,
		reachable:   d("system_reachable", "1 when the connected system answered the last time Tessera asked, else 0."),
		objects:     d("connector_space_objects", "Objects in the connector space."),
		pending:     d("pending_exports", "Pending exports, failed ones included."),
		errors:      d("export_errors", "Pending exports that failed and wait to be retried."),
		unconfirmed: d("unconfirmed_exports", "Exports sent and not yet confirmed by an import."),
		lastRunDone: d("last_run_finished_timestamp_seconds", "When the system's latest finished run ended."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reachable, c.objects, c.pending, c.errors, c.unconfirmed, c.lastRunDone} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.e.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.reachable, err)
		return
	}
	for _, s := range list {
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, s.System.Name)
		}
		up := 0.0
		if s.Reachable {
			up = 1
		}
		g(c.reachable, up)
		g(c.objects, float64(s.Objects))
		g(c.pending, float64(s.Pending))
		g(c.errors, float64(s.ExportErrors))
		g(c.unconfirmed, float64(s.Unconfirmed))
		if s.LastRun != nil && s.LastRun.FinishedAt != nil {
			g(c.lastRunDone, float64(s.LastRun.FinishedAt.Unix()))
		}
	}
}
