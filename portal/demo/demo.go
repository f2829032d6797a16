// Package demo generates a deterministic, realistic organisation for demos,
// tests and benchmarks. Its names carry diacritics, apostrophes, commas,
// hyphens and non-Latin scripts so that escaping is exercised everywhere.
package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/tessera-idm/tessera/portal"
)

// Account is a demo sign-in printed by `tessera dev`.
type Account struct {
	Label       string // "end user", "manager", ...
	AccountName string
	Password    string
	PersonID    string
	Roles       []portal.Role
}

// Membership links a person to a group.
type Membership struct {
	GroupID  string
	PersonID string
}

// Attributes is the demo schema of extra person attributes.
var Attributes = []portal.Attribute{
	{Name: "pronouns", Label: "Pronouns", Type: portal.TypeString, MaxLen: 64, Visibility: portal.VisibleToEveryone},
	{Name: "startDate", Label: "Start date", Type: portal.TypeDate, Visibility: portal.VisibleToEveryone},
	{Name: "costCenter", Label: "Cost centre", Type: portal.TypeString, MaxLen: 32, Visibility: portal.VisibleToHelpdesk},
}

// Org is a generated organisation.
type Org struct {
	People   []portal.Person
	Groups   []portal.Group
	Owners   []Membership
	Members  []Membership
	Accounts []Account
}

// MinPeople is the smallest organisation Generate builds.
const MinPeople = 40

// DemoPassword is the password of every demo account; the demo is for
// trying Tessera on one machine, never for production data.
const DemoPassword = "tessera-demo"

var (
	givenNames = []string{"Zoë", "José", "François", "Søren", "Björn", "Łukasz", "Chloé", "Anne-Marie",
		"Jean-Luc", "Siobhán", "Dmitri", "Ngozi", "Aroha", "Priya", "Mateus", "Ingrid", "Nuño", "Émile",
		"Dorothée", "Kwame", "Leilani", "Oğuz", "Tomáš", "Ana", "Mei", "Hiroshi", "Fatima", "Liam",
		"Olivia", "Noah", "Emma", "Sofía", "Mariana", "Ahmed", "Yusuf", "Elif", "Marta", "Kai",
		"Дмитрий", "Анна", "Ελένη", "Νίκος", "明", "さくら", "محمد", "יעל", "Ana-Lucía", "Renée"}
	surnames = []string{"O'Brien", "D'Angelo", "Müller", "García", "Nguyễn", "Øster", "Smith-Jones",
		"van der Berg", "Ó Súilleabháin", "Kowalczyk", "Al-Farsi", "Dubois", "Rossi", "Novák",
		"Yılmaz", "Okafor", "Tanaka", "Johansson", "Silva", "Fernández", "Schröder", "Lefèvre",
		"Nakamura", "Kim", "Patel", "Murphy", "Brown", "Wilson", "Anderson", "Taylor", "Costa",
		"Иванова", "Петров", "Παπαδόπουλος", "王", "佐藤", "حداد", "כהן", "MacLeod", "St. John"}
	departments = []string{"Finance", "Human Resources", "Research & Development", "Sales", "Marketing",
		"Legal", "IT", "Operations", "Customer Success", "Procurement", "Facilities", "Communications"}
	staffTitles = map[string][]string{
		"Finance":                {"Accountant", "Financial Analyst", "Payroll Specialist", "Controller"},
		"Human Resources":        {"HR Business Partner", "Recruiter", "Learning Specialist"},
		"Research & Development": {"Software Engineer", "Research Scientist", "QA Engineer", "Site Reliability Engineer"},
		"Sales":                  {"Account Executive", "Sales Engineer", "Business Development Rep"},
		"Marketing":              {"Content Strategist", "Brand Designer", "Campaign Manager"},
		"Legal":                  {"Counsel", "Paralegal", "Compliance Officer"},
		"IT":                     {"Systems Administrator", "Service Desk Analyst", "Network Engineer", "Identity Engineer"},
		"Operations":             {"Operations Analyst", "Logistics Coordinator", "Planner"},
		"Customer Success":       {"Customer Success Manager", "Support Specialist", "Onboarding Lead"},
		"Procurement":            {"Buyer", "Category Manager", "Vendor Analyst"},
		"Facilities":             {"Facilities Coordinator", "Workplace Manager", "Security Officer"},
		"Communications":         {"Writer, Internal Communications", "Press Officer", "Editor"},
	}
	offices = []struct{ Name, Phone string }{
		{"London", "+44 20 7946 "}, {"Zürich", "+41 44 668 "}, {"São Paulo", "+55 11 3456 "},
		{"Kraków", "+48 12 345 "}, {"東京", "+81 3 5555 "}, {"New York", "+1 212 555 "},
		{"Montréal", "+1 514 555 "}, {"Auckland", "+64 9 555 "}, {"Dublin", "+353 1 555 "},
	}
	interestGroups = []struct {
		Name, Desc string
		Policy     portal.JoinPolicy
		Type       portal.GroupType
	}{
		{"Book club", "Monthly reads; this month: “Cien años de soledad”.", portal.JoinOpen, portal.GroupDistribution},
		{"Cycling to work", "Routes, showers & bike-shed etiquette.", portal.JoinOpen, portal.GroupDistribution},
		{"Café & Croissants", "Fridays at 9, 3rd floor.", portal.JoinOpen, portal.GroupDistribution},
		{"Ελληνικά speakers", "Greek conversation practice.", portal.JoinOpen, portal.GroupDistribution},
		{"日本語 learners", "Japanese study group.", portal.JoinOpen, portal.GroupDistribution},
		{"VPN users", "Remote access to the corporate network.", portal.JoinOwnerApproval, portal.GroupSecurity},
		{"Finance approvers", "Approve invoices over 10,000.", portal.JoinClosed, portal.GroupSecurity},
		{"GitHub org members", "Access to source code; owners check each request.", portal.JoinOwnerApproval, portal.GroupSecurity},
		{"Escaping <test> group", `Description with <script>alert('x')</script> & "quotes" to prove escaping.`, portal.JoinOpen, portal.GroupDistribution},
	}
)

// Generate builds an organisation of n people (at least MinPeople). The same
// n always gives the same organisation, IDs included.
func Generate(n int) (*Org, error) {
	if n < MinPeople {
		return nil, portal.Errorf(portal.EINVALID, "A demo organisation needs at least %d people (asked for %d).", MinPeople, n)
	}
	if n > 1_000_000 {
		return nil, portal.Errorf(portal.EINVALID, "A demo organisation can have at most 1,000,000 people (asked for %d).", n)
	}
	rng := rand.New(rand.NewPCG(20261126, uint64(n)))
	org := &Org{People: make([]portal.Person, n)}
	nd := len(departments)
	const span = 8
	used := make(map[string]int, n)
	hasReports := func(i int) bool {
		if i == 0 {
			return true
		}
		return nd+1+span*(i-1) < n
	}
	depth := make([]int, n)
	for i := range org.People {
		p := &org.People[i]
		p.ID = newID(rng)
		p.GivenName = givenNames[rng.IntN(len(givenNames))]
		p.Surname = surnames[rng.IntN(len(surnames))]
		p.DisplayName = p.GivenName + " " + p.Surname
		if rng.IntN(50) == 0 {
			p.DisplayName += ", Jr."
		}
		office := offices[rng.IntN(len(offices))]
		p.Office = office.Name
		p.Phone = fmt.Sprintf("%s%04d", office.Phone, rng.IntN(10000))
		if rng.IntN(3) == 0 {
			p.Mobile = fmt.Sprintf("+44 7700 9%05d", rng.IntN(100000))
		}
		p.EmployeeID = fmt.Sprintf("E%06d", 100000+i)
		p.Extra = map[string]string{
			"startDate": fmt.Sprintf("%d-%02d-%02d", 2000+rng.IntN(26), 1+rng.IntN(12), 1+rng.IntN(28)),
		}
		if k := rng.IntN(6); k < 3 {
			p.Extra["pronouns"] = []string{"she/her", "he/him", "they/them"}[k]
		}
		p.Enabled = rng.IntN(100) != 0
		switch {
		case i == 0:
			p.Department, p.Title = "Executive Office", "Chief Executive Officer"
		case i <= nd:
			p.ManagerID = org.People[0].ID
			depth[i] = 1
			p.Department = departments[i-1]
			p.Title = "Vice President, " + p.Department
		default:
			parent := (i-nd-1)/span + 1
			p.ManagerID = org.People[parent].ID
			depth[i] = depth[parent] + 1
			p.Department = org.People[parent].Department
			p.Title = titleFor(rng, p.Department, depth[i], hasReports(i))
		}
		p.AccountName = accountName(p.GivenName, p.Surname, i, used)
		p.Email = p.AccountName + "@tessera.example"
	}

	// The demo sign-ins: a leaf employee, their manager, a helpdesk agent
	// and an administrator, with fixed, memorable names.
	user := n - 1
	manager := (user-nd-1)/span + 1
	helpdesk, admin := n-2, n-3
	for helpdesk == manager || admin == manager {
		helpdesk, admin = helpdesk-1, admin-1
	}
	setDemo := func(i int, given, surname, account, title string) {
		p := &org.People[i]
		p.GivenName, p.Surname, p.DisplayName = given, surname, given+" "+surname
		p.AccountName, p.Email, p.Enabled = account, account+"@tessera.example", true
		if title != "" {
			p.Title = title
		}
	}
	setDemo(user, "Zoë", "D'Angelo-Łukasiewicz", "zoe", "")
	setDemo(manager, "Mateo", "García Núñez", "mateo", "")
	setDemo(helpdesk, "Siobhán", "Ní Bhriain", "siobhan", "Service Desk Analyst")
	setDemo(admin, "Ada", "中村", "ada", "Identity Engineer")
	org.People[helpdesk].Department, org.People[admin].Department = "IT", "IT"
	for i := range org.People {
		p := &org.People[i]
		code := strings.ToUpper(slug(p.Department))
		p.Extra["costCenter"] = fmt.Sprintf("CC-%s-%02d", code[:min(3, len(code))], i%97)
	}
	org.Accounts = []Account{
		{Label: "end user", AccountName: "zoe", Password: DemoPassword, PersonID: org.People[user].ID},
		{Label: "manager", AccountName: "mateo", Password: DemoPassword, PersonID: org.People[manager].ID},
		{Label: "helpdesk", AccountName: "siobhan", Password: DemoPassword, PersonID: org.People[helpdesk].ID, Roles: []portal.Role{portal.RoleHelpdesk}},
		{Label: "administrator", AccountName: "ada", Password: DemoPassword, PersonID: org.People[admin].ID, Roles: []portal.Role{portal.RoleAdmin}},
	}

	// Department groups: everyone in the department, owned by its VP.
	for d, dept := range departments {
		g := portal.Group{ID: newID(rng), Name: "dept-" + slug(dept), DisplayName: dept + " – all staff",
			Description: "Everyone in " + dept + ".", Email: "dept-" + slug(dept) + "@tessera.example",
			Type: portal.GroupDistribution, JoinPolicy: portal.JoinClosed}
		org.Groups = append(org.Groups, g)
		org.Owners = append(org.Owners, Membership{g.ID, org.People[d+1].ID})
		for i := range org.People {
			if org.People[i].Department == dept {
				org.Members = append(org.Members, Membership{g.ID, org.People[i].ID})
			}
		}
	}
	// Interest and access groups, owned by the demo manager and others.
	for k, ig := range interestGroups {
		g := portal.Group{ID: newID(rng), Name: slug(ig.Name), DisplayName: ig.Name, Description: ig.Desc,
			Type: ig.Type, JoinPolicy: ig.Policy}
		org.Groups = append(org.Groups, g)
		org.Owners = append(org.Owners, Membership{g.ID, org.People[manager].ID})
		if k%2 == 0 {
			org.Owners = append(org.Owners, Membership{g.ID, org.People[rng.IntN(n)].ID})
		}
		org.addMembers(rng, g.ID, 5+rng.IntN(min(200, n/4)))
		if k < 3 {
			org.Members = append(org.Members, Membership{g.ID, org.People[user].ID})
		}
	}
	// A dynamic group: its members are computed from a rule.
	org.Groups = append(org.Groups, portal.Group{ID: newID(rng), Name: "office-zurich", DisplayName: "Zürich office",
		Description: "Everyone who works in Zürich; membership follows the office in each profile.",
		Email:       "zurich@tessera.example", Type: portal.GroupDistribution, JoinPolicy: portal.JoinClosed,
		MembershipRule: `person.office == "Zürich" && person.enabled`})
	org.Owners = append(org.Owners, Membership{org.Groups[len(org.Groups)-1].ID, org.People[admin].ID})
	// Project groups, about one per 200 people.
	for k := range max(3, n/200) {
		name := fmt.Sprintf("Project %s %d", projectWords[k%len(projectWords)], k/len(projectWords)+1)
		policy := []portal.JoinPolicy{portal.JoinOpen, portal.JoinOwnerApproval, portal.JoinClosed}[k%3]
		g := portal.Group{ID: newID(rng), Name: slug(name), DisplayName: name,
			Description: "Team working on " + name + ".", Type: portal.GroupSecurity, JoinPolicy: policy}
		org.Groups = append(org.Groups, g)
		org.Owners = append(org.Owners, Membership{g.ID, org.People[rng.IntN(n)].ID})
		org.addMembers(rng, g.ID, 3+rng.IntN(40))
	}
	return org, nil
}

var projectWords = []string{"Aurora", "Borealis", "Cédille", "Dune", "Éclair", "Fjord", "Ginkgo",
	"Halcyon", "Ikebana", "Jötunn", "Kestrel", "Lumière", "Monsoon", "Nimbus", "Ondine", "Pavo"}

func (org *Org) addMembers(rng *rand.Rand, groupID string, count int) {
	seen := map[int]bool{}
	for len(seen) < count && len(seen) < len(org.People) {
		i := rng.IntN(len(org.People))
		if !seen[i] {
			seen[i] = true
			org.Members = append(org.Members, Membership{groupID, org.People[i].ID})
		}
	}
}

func titleFor(rng *rand.Rand, dept string, depth int, hasReports bool) string {
	if hasReports {
		switch depth {
		case 2:
			return "Director, " + dept
		case 3:
			return "Senior Manager"
		default:
			return "Team Lead"
		}
	}
	titles := staffTitles[dept]
	t := titles[rng.IntN(len(titles))]
	if rng.IntN(4) == 0 {
		t = "Senior " + t
	}
	return t
}

func newID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ASCIIFold strips diacritics and keeps lowercase ASCII letters and digits.
func ASCIIFold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case r == 'ø' || r == 'Ø':
			b.WriteByte('o')
		case r == 'ł' || r == 'Ł':
			b.WriteByte('l')
		case r == 'ß':
			b.WriteString("ss")
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func accountName(given, surname string, i int, used map[string]int) string {
	g, s := ASCIIFold(given), ASCIIFold(surname)
	base := ""
	if g != "" && s != "" {
		base = g[:1] + s
	}
	if len(base) > 16 {
		base = base[:16]
	}
	if base == "" {
		return fmt.Sprintf("u%06d", 100000+i)
	}
	used[base]++
	if k := used[base]; k > 1 {
		return fmt.Sprintf("%s%d", base, k)
	}
	return base
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			dash = false
		} else if unicode.IsLetter(r) {
			b.WriteString(fmt.Sprintf("u%x", r))
			dash = false
		} else if !dash && unicode.Is(unicode.Mn, r) == false && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}
