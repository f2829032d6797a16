package main

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The documents a newcomer reads; their links must lead somewhere in the
// repository (a README once linked ../shared/DESIGN.md, outside it).
var docs = []string{"README.md", "ARCHITECTURE.md"}

var (
	fencedBlock = regexp.MustCompile("(?ms)^```.*?^```")
	codeSpan    = regexp.MustCompile("`[^`\n]*`")
	inlineLink  = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink     = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*(\S+)`)
	heading     = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	// A path of the repository in code, with at least one slash, such as
	// `syncsvc/ad/tester.go`, `portal/rule/` or `e2e/harness`.
	pathSpan = regexp.MustCompile("`([a-z0-9_.-]+(?:/[a-zA-Z0-9_.-]*)+)`")
)

// TestDocLinks: every relative link in README.md and ARCHITECTURE.md
// points at a file of the repository, and an #anchor at a heading in it.
func TestDocLinks(t *testing.T) {
	files := repoFiles(t)
	for _, doc := range docs {
		text := readDoc(t, doc)
		prose := codeSpan.ReplaceAllString(fencedBlock.ReplaceAllString(text, ""), "")
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(prose, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range refLink.FindAllStringSubmatch(prose, -1) {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if isExternal(target) {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			if file == "" {
				file = doc
			} else {
				file = path.Clean(path.Join(path.Dir(doc), file))
			}
			require.Truef(t, files.has(file), "%s links to %q: %s is not a file of the repository", doc, target, file)
			if anchor != "" {
				require.Containsf(t, anchors(readDoc(t, file)), anchor, "%s links to %q: no such heading in %s", doc, target, file)
			}
		}
	}
}

// TestArchitecturePaths: the files and folders ARCHITECTURE.md names in
// code exist, so that moving one means correcting the description.
func TestArchitecturePaths(t *testing.T) {
	files := repoFiles(t)
	for _, m := range pathSpan.FindAllStringSubmatch(readDoc(t, "ARCHITECTURE.md"), -1) {
		require.Truef(t, files.has(strings.TrimSuffix(m[1], "/")), "ARCHITECTURE.md names %s, which is not in the repository", m[1])
	}
}

func isExternal(target string) bool {
	return strings.HasPrefix(target, "//") || regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(target)
}

// anchors are the heading IDs GitHub gives a Markdown document's headings.
func anchors(text string) []string {
	var ids []string
	for _, m := range heading.FindAllStringSubmatch(fencedBlock.ReplaceAllString(text, ""), -1) {
		id := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				return r
			}
			return -1
		}, strings.ToLower(m[1]))
		ids = append(ids, id)
	}
	return ids
}

// repoSet is the repository's tracked files and the folders holding them.
type repoSet map[string]bool

func (s repoSet) has(p string) bool { return s[p] }

// repoFiles lists what git tracks (plus what is staged), so a link to an
// ignored or generated file does not count.
func repoFiles(t *testing.T) repoSet {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "--cached", "--full-name")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	require.NoError(t, err, "git ls-files: the documents' links are checked against the repository's files")
	set := repoSet{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		set[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			set[d] = true
		}
	}
	return set
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	require.NoError(t, err)
	return string(b)
}

// TestArchitectureImports: the table of folders in ARCHITECTURE.md says
// what each package imports of ours; it must say what the code does.
func TestArchitectureImports(t *testing.T) {
	const module = "github.com/tessera-idm/tessera/"
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	require.NoError(t, err)
	actual := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		actual[pkg] = []string{}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module) {
				actual[pkg] = append(actual[pkg], strings.TrimPrefix(imp, module))
			}
		}
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_/]+)/` \\|.*\\| ([^|]+) \\|$")
	rows := row.FindAllStringSubmatch(readDoc(t, "ARCHITECTURE.md"), -1)
	require.NotEmpty(t, rows, "ARCHITECTURE.md has a table of folders")
	seen := map[string]bool{}
	for _, m := range rows {
		pkg, said := m[1], strings.TrimSpace(m[2])
		seen[pkg] = true
		imports, ok := actual[pkg]
		require.Truef(t, ok, "ARCHITECTURE.md lists %s/, which is not a package", pkg)
		if said == "everything" || strings.HasPrefix(said, "any:") {
			continue
		}
		var documented []string
		for _, c := range codeSpan.FindAllString(said, -1) {
			documented = append(documented, strings.Trim(c, "`"))
		}
		require.ElementsMatchf(t, imports, documented, "ARCHITECTURE.md says %s/ imports %q; it imports %v", pkg, said, imports)
	}
	for pkg := range actual {
		require.Truef(t, seen[pkg], "package %s is missing from ARCHITECTURE.md's table of folders", pkg)
	}
}
