package retention

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gateFile is the one file allowed to unlink footage.
const gateFile = "retention/remove.go"

// reviewed lists deleting calls outside the gate that were read and found
// not to touch footage, with the number of such calls in the file: an
// added call in the same file raises the count and fails the test until it
// is reviewed (or carries a "deletion-gate:" comment).
var reviewed = map[string]struct {
	calls int
	why   string
}{
	"admin/export/export.go": {4, "temp files of an export being written, and a package that was never recorded (write or registry failure)"},
	"admin/export/key.go":    {1, "temp file of the signing key"},
	"cmd/vahti/demo.go":      {1, "the demo's own temp dir (simulated cameras only)"},
	"registry/backup.go":     {9, "temp database copies and the old WAL/SHM on restore"},
	"recorder/recover.go":    {1, "an unfinished .tmp with no complete fragment: init section only, no footage"},
	"recorder/segment.go":    {1, "an unfinished .tmp whose init section failed to write: no footage"},
}

// deleters are the calls that destroy files.
var deleters = map[string]map[string]bool{
	"os":      {"Remove": true, "RemoveAll": true, "Truncate": true},
	"syscall": {"Unlink": true, "Unlinkat": true, "Rmdir": true, "Truncate": true},
	"unix":    {"Unlink": true, "Unlinkat": true, "Rmdir": true, "Truncate": true},
}

// TestOnlyRemoveGoUnlinks lists every call that deletes a file in the
// tree's non-test Go code. Outside retention/remove.go each must carry a
// "deletion-gate:" comment on its line or the line above, saying why it is
// not footage (a temp file of a half-written export, a stale socket...).
// Footage, export packages and purge reports are deleted only by the gate.
func TestOnlyRemoveGoUnlinks(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	inGate := 0
	found := map[string]int{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "vendor" || n == "testdata" || (strings.HasPrefix(n, ".") && p != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		// Local names of the deleting packages (import aliases).
		names := map[string]string{}
		for _, im := range file.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			pkg := map[string]string{"os": "os", "syscall": "syscall", "golang.org/x/sys/unix": "unix"}[path]
			if pkg == "" {
				continue
			}
			local := pkg
			if im.Name != nil {
				local = im.Name.Name
			}
			names[local] = pkg
		}
		annotated := map[int]bool{}
		for _, cg := range file.Comments {
			for _, c := range cg.List {
				if strings.Contains(c.Text, "deletion-gate:") {
					line := fset.Position(c.Slash).Line
					annotated[line], annotated[line+1] = true, true
				}
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok || !deleters[names[id.Name]][sel.Sel.Name] {
				return true
			}
			pos := fset.Position(sel.Pos())
			switch {
			case rel == gateFile:
				inGate++
			case annotated[pos.Line]:
				t.Logf("annotated exception: %s:%d %s.%s", rel, pos.Line, id.Name, sel.Sel.Name)
			case reviewed[rel].calls > 0:
				found[rel]++
			default:
				t.Errorf("%s:%d: %s.%s outside %s: footage must be deleted through the retention gate; if this is not footage, say why in a \"// deletion-gate: ...\" comment",
					rel, pos.Line, id.Name, sel.Sel.Name, gateFile)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f, r := range reviewed {
		if found[f] > r.calls {
			t.Errorf("%s: %d deleting calls, %d were reviewed (%s): review the new ones and annotate them with \"// deletion-gate: ...\"",
				f, found[f], r.calls, r.why)
		}
	}
	if inGate == 0 {
		t.Fatalf("no deleting call found in %s: the scan is broken", gateFile)
	}
}
