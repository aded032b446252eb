package ads

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	pushes       *prometheus.CounterVec
	nacks        *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	translations *prometheus.CounterVec
	streams      prometheus.Gauge
	nodes        prometheus.Gauge
	inconsistent prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eniway_xds_pushes_total", Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eniway_xds_nacks_total", Help: "xDS responses rejected by a node, by resource type.",
		}, []string{"type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eniway_xds_push_latency_seconds",
			Help:    "Time from an Update that changed a resource type for a node to the response carrying it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"type"}),
		translations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eniway_xds_translations_total", Help: "Updates translated: full, or endpoints only.",
		}, []string{"kind"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eniway_xds_streams", Help: "Open xDS streams.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eniway_xds_nodes", Help: "Nodes that have connected since the server started.",
		}),
		inconsistent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eniway_xds_inconsistent_snapshots_total", Help: "Snapshots not pushed because they were inconsistent.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.pushes, m.nacks, m.latency, m.translations, m.streams, m.nodes, m.inconsistent} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, err
				}
			}
		}
	}
	return m, nil
}
