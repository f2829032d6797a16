package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writesRequests finds SQL that changes a request or its timeline.
var writesRequests = regexp.MustCompile(`(?i)\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(requests|request_events)\b`)

// TestOneOwnerOfARequestsLife: a request's status and timeline are written
// only by portal/postgres (the sync engine calls its methods, in
// syncsvc.RequestLife, inside its own transaction). Issue 9 found them
// changed in five places, a trigger among them (complete_requests, dropped
// by migration 0012): no Go file outside portal/postgres, and no migration
// after 0012, may write those tables, except to reword what they say
// (rewordsOnly).
func TestOneOwnerOfARequestsLife(t *testing.T) {
	files := repoFiles(t)
	var checked int
	for f := range files {
		var owner bool
		switch {
		case strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go"):
			owner = path.Dir(f) == "portal/postgres"
		case strings.HasPrefix(f, "migrations/") && strings.HasSuffix(f, ".sql"):
			n, err := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
			require.NoError(t, err, "a migration's name starts with its number: %s", f)
			owner = n <= 12 // the tables' creation, and the trigger's removal
		default:
			continue
		}
		b, err := os.ReadFile("../../" + f)
		if os.IsNotExist(err) {
			continue // staged for deletion
		}
		require.NoError(t, err)
		checked++
		for _, loc := range writesRequests.FindAllIndex(b, -1) {
			if owner || (strings.HasPrefix(f, "migrations/") && rewordsOnly(string(b[loc[0]:]))) {
				continue
			}
			t.Errorf("%s writes a request's life (%q): call portal/postgres instead (requestlife.go after commit)", f, b[loc[0]:loc[1]])
		}
	}
	require.Greater(t, checked, 100)
}

// rewordedColumns are the columns that hold what a request and its
// timeline say, not where the request is: a migration may move their
// stored form (as 0053 moved English times to instants each reader reads
// in their zone) without taking part in a request's life.
var rewordedColumns = map[string]bool{"detail": true, "detail_text": true, "justification": true}

// rewordsOnly reports whether the SQL statement that stmt starts with is
// an UPDATE that sets only rewordedColumns.
func rewordsOnly(stmt string) bool {
	stmt, _, _ = strings.Cut(stmt, ";")
	set := regexp.MustCompile(`(?is)^UPDATE\s+\w+(\s+\w+)?\s+SET\s+(.*?)(\s+(FROM|WHERE)\s|$)`).FindStringSubmatch(stmt)
	if set == nil {
		return false // an INSERT or a DELETE
	}
	// The assignments, split at the commas outside parentheses.
	var depth, start int
	clause := set[2]
	for i := 0; i <= len(clause); i++ {
		if i < len(clause) {
			switch clause[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
			if clause[i] != ',' || depth > 0 {
				continue
			}
		}
		column, _, ok := strings.Cut(clause[start:i], "=")
		if !ok || !rewordedColumns[strings.TrimSpace(column)] {
			return false
		}
		start = i + 1
	}
	return true
}

// TestNoRequireInsideEventually: a require call inside a condition that
// require.Eventually polls stops the test at the first poll that is not
// yet true (and from another goroutine, which FailNow does not allow), so
// a condition that needs assertions is written with EventuallyWithT and
// assert on its collect argument.
func TestNoRequireInsideEventually(t *testing.T) {
	fset := token.NewFileSet()
	for f := range repoFiles(t) {
		if !strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, "../../"+f, nil, 0)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isPkgCall(call, "Eventually", "require", "assert") || len(call.Args) < 2 {
				return true
			}
			cond, ok := call.Args[1].(*ast.FuncLit)
			if !ok {
				return true
			}
			ast.Inspect(cond.Body, func(n ast.Node) bool {
				if inner, ok := n.(*ast.CallExpr); ok && isPkgCall(inner, "", "require") {
					t.Errorf("%s: require inside a require.Eventually condition: use EventuallyWithT", fset.Position(inner.Pos()))
				}
				return true
			})
			return true
		})
	}
}

// isPkgCall reports whether call is pkg.name(...) for one of pkgs (any
// name when name is empty).
func isPkgCall(call *ast.CallExpr, name string, pkgs ...string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok || (name != "" && sel.Sel.Name != name) {
		return false
	}
	for _, p := range pkgs {
		if id.Name == p {
			return true
		}
	}
	return false
}
