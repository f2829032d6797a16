package ad

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The kinds of request this package sends a DC: what the DC is asked to
// do on Tessera's behalf, counted in this process (requests counts them).
const (
	reqBind = iota
	reqSearch
	reqDirSync
	reqModify
	reqAdd
	reqDelete
	reqRename
	reqKinds
)

var reqNames = [reqKinds]string{"bind", "search", "dirsync", "modify", "add", "delete", "rename"}

// requests counts the requests sent by every connector and sign-in of
// this process, by kind. A page of a paged search counts as a search, but
// the expiry reminders' SearchWithPaging (once a day) counts once however
// many pages it reads. Every connection begins with a bind, after its TLS
// handshake.
var requests [reqKinds]atomic.Uint64

// sent counts one request of kind k.
func sent(k int) { requests[k].Add(1) }

// RequestCollector exports the requests this process sent to AD domain
// controllers, by kind: the load Tessera puts on the DCs (a DC's CPU is
// what bounds exports and password resets), and in the password
// benchmark, how many requests one reset makes.
type RequestCollector struct{ desc *prometheus.Desc }

// NewRequestCollector returns the collector of tessera_ad_requests_total.
func NewRequestCollector() *RequestCollector {
	return &RequestCollector{desc: prometheus.NewDesc("tessera_ad_requests_total",
		"LDAP requests this process sent to AD domain controllers, by kind (bind, search, dirsync, modify, add, delete, rename).",
		[]string{"kind"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *RequestCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *RequestCollector) Collect(ch chan<- prometheus.Metric) {
	for k, name := range reqNames {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(requests[k].Load()), name)
	}
}
