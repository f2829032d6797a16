package portal

// OrgNode is one box of the org chart: a person, how many people report to
// them, and those of their reports that were loaded with the chart.
type OrgNode struct {
	PersonRef
	ReportCount int
	// Reports are loaded only when all ReportCount of them could be; a node
	// with reports but none loaded is opened as a chart of its own.
	Reports []*OrgNode
}

// OrgTree is the org chart around one person: their chain of managers above
// them, their peers beside them (their manager's reports, themselves among
// them), and the people below them, as far down as the chart holds.
type OrgTree struct {
	// Chain runs from the top of the organisation down to the person's
	// direct manager; empty for someone with no manager.
	Chain []PersonRef
	// Peers are the manager's direct reports in name order, the person
	// among them; for someone without a manager, just the person.
	Peers []*OrgNode
	// PeerCount is the manager's number of reports (Peers may hold fewer).
	PeerCount int
	// Focus is the person the chart is about, one of Peers, with their
	// reports and, below them, theirs.
	Focus *OrgNode
}

// Org chart limits: how many boxes one chart draws below its person, how
// deep, and how many peers; beyond them a box links to a chart of its own.
const (
	OrgChartMaxBelow = 400
	OrgChartMaxDepth = 6
	OrgChartMaxPeers = 500
)

// Size counts the boxes below a node.
func (n *OrgNode) Size() int {
	total := 0
	for _, r := range n.Reports {
		total += 1 + r.Size()
	}
	return total
}
